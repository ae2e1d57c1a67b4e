using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Idem.Redis.Tests;

/// <summary>
/// The real Redis Cluster these tests share (three primaries, a replica each), named by <c>IDEM_TEST_REDIS_CLUSTER</c>,
/// with its nodes' folders under <c>IDEM_TEST_REDIS_CLUSTER_DIR</c> (eng/provision.sh makes both). Missing or
/// unreachable, every test that needs it fails with a message that says so, like <see cref="RedisServer"/>: it never
/// skips. Also the operator's hands for the destructive tests: SIGKILL a node by its pid file, start it again from its
/// redis.conf, move slots with <c>redis-cli --cluster reshard</c>, wait until the cluster is whole again.
/// </summary>
internal static class RedisCluster
{
    public const string Variable = "IDEM_TEST_REDIS_CLUSTER";
    public const string DirectoryVariable = "IDEM_TEST_REDIS_CLUSTER_DIR";

    /// <summary>Trait marking tests that talk to the real Redis Cluster.</summary>
    public const string Category = "RedisCluster";

    /// <summary>The xUnit collection of the tests that kill nodes or move slots: they run alone, after the others.</summary>
    public const string DestructiveCollection = "Redis Cluster, destructive";

    private static readonly TimeSpan SettleTimeout = TimeSpan.FromSeconds(60);
    private static readonly Lazy<Task<ConnectionMultiplexer>> Shared = new(() => RedisServer.ConnectAsync(Configuration));

    /// <summary>The StackExchange.Redis configuration string of the cluster (its six nodes).</summary>
    public static string Configuration
        => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set. These tests need a real Redis Cluster: run ./test.sh (which provisions one), or " +
                $"`. artifacts/test-services.env` after eng/provision.sh.");

    private static string NodesDirectory
        => Environment.GetEnvironmentVariable(DirectoryVariable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{DirectoryVariable} is not set: run eng/provision.sh and source artifacts/test-services.env.");

    /// <summary>One connection to the cluster for the whole test run (admin mode, so tests can read node state).</summary>
    public static Task<ConnectionMultiplexer> ConnectAsync() => Shared.Value;

    /// <summary>A connection made the way the store makes its own: fail fast, 1 s timeouts.</summary>
    public static ConfigurationOptions StoreConfiguration()
        => RedisIdempotencyBuilderExtensions.ParseConfiguration(Configuration);

    /// <summary>The nodes' ports, from the configuration string.</summary>
    public static IReadOnlyList<int> Ports
        => [.. Configuration.Split(',').Select(e => int.Parse(e[(e.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture))];

    /// <summary>Runs <c>redis-cli -p port args…</c> and returns its output; fails the test on a non-zero exit.</summary>
    public static async Task<string> CliAsync(int port, params string[] arguments)
        => await RunAsync("redis-cli", ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), .. arguments]);

    /// <summary>The cluster's view from <paramref name="port"/>: one entry per node.</summary>
    public static async Task<IReadOnlyList<Node>> NodesAsync(int port)
    {
        var text = await CliAsync(port, "cluster", "nodes");
        var nodes = new List<Node>();
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var f = line.Split(' ');
            var address = f[1][..f[1].IndexOf('@', StringComparison.Ordinal)];
            nodes.Add(new Node(
                f[0],
                int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture),
                f[2].Contains("master", StringComparison.Ordinal),
                f[2].Contains("fail", StringComparison.Ordinal),
                f[3] == "-" ? null : f[3],
                f.Length > 8));
        }

        return nodes;
    }

    /// <summary>
    /// Waits until every node answers, agrees that the cluster is ok with all slots served, and three primaries hold
    /// slots, each with a replica whose link is up and whose first sync is done: what eng/provision.sh calls healthy.
    /// </summary>
    public static async Task WaitHealthyAsync(TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        string why;
        while (true)
        {
            why = await WhyUnhealthyAsync();
            if (why.Length == 0)
            {
                return;
            }

            Assert.True(deadline.Elapsed < (timeout ?? SettleTimeout), $"The Redis Cluster did not become healthy within {timeout ?? SettleTimeout}: {why}");
            await Task.Delay(200);
        }
    }

    private static async Task<string> WhyUnhealthyAsync()
    {
        try
        {
            foreach (var port in Ports)
            {
                var info = await CliAsync(port, "cluster", "info");
                if (!info.Contains("cluster_state:ok", StringComparison.Ordinal) || !info.Contains("cluster_slots_ok:16384", StringComparison.Ordinal))
                {
                    return $"node {port} does not see a whole cluster";
                }

                var replication = await CliAsync(port, "info", "replication");
                if (replication.Contains("role:slave", StringComparison.Ordinal)
                    && (!replication.Contains("master_link_status:up", StringComparison.Ordinal) || !replication.Contains("master_sync_in_progress:0", StringComparison.Ordinal)))
                {
                    return $"replica {port} is not in sync";
                }
            }

            var nodes = await NodesAsync(Ports[0]);
            var primaries = nodes.Where(n => n.IsPrimary && n.HasSlots && !n.Failed).ToList();
            if (primaries.Count != 3 || nodes.Any(n => n.Failed))
            {
                return $"{primaries.Count} primaries with slots, {nodes.Count(n => n.Failed)} nodes failed";
            }

            return primaries.All(p => nodes.Any(r => r.PrimaryId == p.Id)) ? "" : "a primary has no replica";
        }
        catch (Exception ex) when (ex is InvalidOperationException or Xunit.Sdk.XunitException)
        {
            return ex.Message;
        }
    }

    /// <summary>The pid of the node on <paramref name="port"/>, from the pid file eng/provision.sh configured.</summary>
    public static int Pid(int port)
        => int.Parse(File.ReadAllText(Path.Combine(NodesDirectory, port.ToString(CultureInfo.InvariantCulture), "redis.pid")).Trim(), CultureInfo.InvariantCulture);

    /// <summary>SIGKILL the node on <paramref name="port"/>: no shutdown, no final write.</summary>
    public static async Task KillAsync(int port)
    {
        using var process = Process.GetProcessById(Pid(port));
        process.Kill();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Sends SIGSTOP or SIGCONT to the node on <paramref name="port"/> (a stalled node, then one that resumes).</summary>
    public static Task SignalAsync(int port, string signal) => RunAsync("kill", ["-" + signal, Pid(port).ToString(CultureInfo.InvariantCulture)]);

    /// <summary>Whether the node on <paramref name="port"/> answers PING.</summary>
    public static async Task<bool> AnswersAsync(int port)
    {
        try
        {
            return (await CliAsync(port, "ping")).Trim() == "PONG";
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Starts the node on <paramref name="port"/> again from its redis.conf; its nodes.conf makes it rejoin.</summary>
    public static Task StartAsync(int port)
        => RunAsync("redis-server", [Path.Combine(NodesDirectory, port.ToString(CultureInfo.InvariantCulture), "redis.conf")]);

    /// <summary>
    /// Moves <paramref name="slots"/> slots (and their keys) from one primary to another with <c>redis-cli --cluster reshard</c>,
    /// once every node agrees on the slots and none is left open (as redis-cli demands; right after another move the
    /// nodes can take a moment to agree).
    /// </summary>
    public static async Task ReshardAsync(Node from, Node to, int slots)
    {
        var deadline = Stopwatch.StartNew();
        string check;
        while (!(check = await RunAsync("redis-cli", ["--cluster", "check", "127.0.0.1:" + from.Port.ToString(CultureInfo.InvariantCulture)], allowFailure: true))
            .Contains("[OK] All 16384 slots covered", StringComparison.Ordinal)
            || check.Contains("[ERR]", StringComparison.Ordinal) || check.Contains("[WARNING]", StringComparison.Ordinal))
        {
            Assert.True(deadline.Elapsed < SettleTimeout, $"The cluster's nodes did not agree on the slots within {SettleTimeout}: {check}");
            await Task.Delay(200);
        }

        await RunAsync("redis-cli", [
            "--cluster", "reshard", "127.0.0.1:" + from.Port.ToString(CultureInfo.InvariantCulture),
            "--cluster-from", from.Id, "--cluster-to", to.Id, "--cluster-slots", slots.ToString(CultureInfo.InvariantCulture),
            "--cluster-yes", "--cluster-pipeline", "50",
        ], TimeSpan.FromSeconds(120));
    }

    /// <summary>How many error replies starting with <paramref name="prefix"/> (MOVED, ASK) all nodes have sent since they started.</summary>
    public static async Task<long> ErrorRepliesAsync(string prefix)
    {
        long total = 0;
        foreach (var port in Ports)
        {
            var stats = await CliAsync(port, "info", "errorstats");
            foreach (var line in stats.Split('\n', StringSplitOptions.TrimEntries))
            {
                if (line.StartsWith("errorstat_" + prefix + ":count=", StringComparison.Ordinal))
                {
                    total += long.Parse(line[(line.IndexOf('=') + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        return total;
    }

    /// <summary>
    /// Deletes a load test's records (pipelined, each routed to its slot's primary), so the tens of thousands it made do
    /// not slow down the key scans of the purge tests that run after it.
    /// </summary>
    public static async Task DeleteAsync(RedisIdempotencyStore store, IEnumerable<string> storeKeys)
    {
        var database = store.Connection!.GetDatabase();
        foreach (var batch in storeKeys.Chunk(1000))
        {
            await Task.WhenAll(batch.Select(k => database.KeyDeleteAsync(store.RecordKey(k))));
        }
    }

    /// <summary>A store on its own connection to the cluster, made as <c>AddRedisStore(configuration)</c> makes it.</summary>
    public static RedisIdempotencyStore CreateStore(Action<RedisStoreOptions>? configure = null)
    {
        var options = new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix() };
        configure?.Invoke(options);
        return new RedisIdempotencyStore(StoreConfiguration(), options, Microsoft.Extensions.Logging.Abstractions.NullLogger<RedisIdempotencyStore>.Instance);
    }

    private static async Task<string> RunAsync(string program, IEnumerable<string> arguments, TimeSpan? timeout = null, bool allowFailure = false)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(timeout ?? TimeSpan.FromSeconds(20));
        if (process.ExitCode != 0 && !allowFailure)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', start.ArgumentList)} exited with {process.ExitCode}: {await errors}{await output}");
        }

        return await output;
    }

    /// <summary>One line of <c>CLUSTER NODES</c>.</summary>
    internal sealed record Node(string Id, int Port, bool IsPrimary, bool Failed, string? PrimaryId, bool HasSlots);
}

/// <summary>The destructive cluster tests: one at a time, and never while another test runs.</summary>
[CollectionDefinition(RedisCluster.DestructiveCollection, DisableParallelization = true)]
public sealed class RedisClusterDestructiveCollection;
