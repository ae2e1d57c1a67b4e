using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Idem.Redis.Tests;

/// <summary>
/// The store on the real Redis Cluster with many tenants and keys, the scripts' one-slot rule, the durable mode's
/// <c>WAIT</c>, and the settings check at start. Nothing here disturbs the cluster.
/// </summary>
[Trait("Category", RedisCluster.Category)]
public sealed partial class RedisClusterTests
{
    private const int Tenants = 50;
    private const int KeysPerTenant = 40;

    [Theory]
    [InlineData(RedisDurability.Primary)]
    [InlineData(RedisDurability.Replicated)]
    public async Task ManyTenantsAndKeys_SpreadOverSlotsAndPrimaries_EachClaimsOnceAndReplays(RedisDurability durability)
    {
        await using var store = RedisCluster.CreateStore(o => o.Durability = durability);
        var keys = (from tenant in Enumerable.Range(0, Tenants)
                    from _ in Enumerable.Range(0, KeysPerTenant)
                    select StoreKey.Create($"tenant-{tenant}|1", "POST", "/v1/transfers", Guid.NewGuid().ToString("N"))).ToArray();
        var response = new IdempotencyResponse(201, [], "{\"ok\":true}"u8.ToArray());

        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
        {
            var claim = await store.TryClaimAsync(Request(key));
            Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
            Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(claim.Lease!, response));
        });
        await Parallel.ForEachAsync(keys, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (key, _) =>
        {
            var replay = await store.TryClaimAsync(Request(key));
            Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
            Assert.Equal(response.Body.ToArray(), replay.Response!.Body.ToArray());
        });

        // The keys really went everywhere: to most of the 16384 slots' worth of distinct slots, and to every primary.
        var connection = store.Connection!;
        var slots = keys.Select(k => connection.GetHashSlot(store.RecordKey(k))).Distinct().Count();
        var primaries = keys.Select(k => connection.GetServer(store.RecordKey(k), flags: CommandFlags.DemandMaster).EndPoint.ToString()).Distinct().Count();
        Assert.True(slots > keys.Length * 9 / 10, $"{keys.Length} keys hashed to only {slots} slots.");
        Assert.Equal(3, primaries);
    }

    [Fact]
    public void Scripts_EachTouchesOnlyKeysItDeclares()
    {
        // Redis Cluster runs a script on the node that owns its declared keys' slot; a script that named any other key
        // could reach a slot elsewhere. Every command a script calls names KEYS[1], no key at all (TIME), or the key
        // parameter of the shared claim and completion functions, which are called with KEYS[1], or with KEYS[i] by the
        // batch scripts (whose keys the store gives one hash slot per call on a Cluster).
        foreach (var script in RedisScripts.All)
        {
            var calls = RedisCall().Matches(script.Source);
            Assert.NotEmpty(calls);
            foreach (Match call in calls)
            {
                var command = call.Groups["command"].Value;
                if (command == "TIME")
                {
                    Assert.Equal("", call.Groups["key"].Value);
                }
                else
                {
                    Assert.True(call.Groups["key"].Value is "KEYS[1]" or "key", $"Script {script.Name} calls {command} on {call.Groups["key"].Value}, not KEYS[1].");
                }
            }

            Assert.DoesNotMatch(@"KEYS\[[02-9]", script.Source);
            var batch = script.Name.EndsWith("-many", StringComparison.Ordinal);
            foreach (Match call in FunctionCall().Matches(script.Source))
            {
                Assert.Equal(batch ? "KEYS[i]" : "KEYS[1]", call.Groups["key"].Value);
            }
        }
    }

    [Fact]
    public async Task CheckServers_ReplicatedOnTheCluster_PassesWithoutWarnings()
    {
        var logger = new ListLogger();
        await using var store = new RedisIdempotencyStore(RedisCluster.StoreConfiguration(), new RedisStoreOptions { Durability = RedisDurability.Replicated }, logger);

        await store.CheckServersAsync();

        // The provisioned nodes keep an AOF and never evict.
        Assert.Empty(logger.Messages);
    }

    [Fact]
    public async Task CheckServers_ReplicatedWithMoreReplicasThanAPrimaryHas_RefusesToStartWithTheReason()
    {
        await using var store = new RedisIdempotencyStore(
            RedisCluster.StoreConfiguration(), new RedisStoreOptions { Durability = RedisDurability.Replicated, MinReplicas = 2 }, new ListLogger());

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(store.CheckServersAsync);

        Assert.Contains("MinReplicas = 2", ex.Message, StringComparison.Ordinal);
        Assert.Contains("has 1 replica(s) online", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task HostStart_ReplicatedWithMoreReplicasThanAPrimaryHas_FailsWithTheReason()
    {
        var builder = Host.CreateApplicationBuilder();
        builder.Services.AddIdempotency().AddRedisStore(RedisCluster.Configuration, o =>
        {
            o.KeyPrefix = RedisServer.NewPrefix();
            o.Durability = RedisDurability.Replicated;
            o.MinReplicas = 2;
        });
        using var host = builder.Build();

        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => host.StartAsync());

        Assert.Contains("Durability = Replicated and MinReplicas = 2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckServers_ReplicatedOnAServerWithoutReplicas_RefusesToStart()
    {
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => CheckPrivateServerAsync(new RedisStoreOptions { Durability = RedisDurability.Replicated }));

        Assert.Contains("has 0 replica(s) online", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckServers_EvictingPolicyAndNoPersistence_WarnsOfBoth()
    {
        var messages = await CheckPrivateServerAsync(new RedisStoreOptions(), "--maxmemory-policy", "volatile-lru", "--appendonly", "no");

        Assert.Collection(
            messages,
            m => Assert.Contains("maxmemory-policy volatile-lru", m, StringComparison.Ordinal),
            m => Assert.Contains("persistence off", m, StringComparison.Ordinal));
    }

    [Fact]
    public async Task CheckServers_AofOffWithSnapshots_WarnsThatACrashLosesTheLastWrites()
    {
        var messages = await CheckPrivateServerAsync(new RedisStoreOptions(), "--appendonly", "no", "--save", "3600 1");

        Assert.Contains("snapshots only (save 3600 1)", Assert.Single(messages), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckServers_AofOffAndConfigDisabled_WarnsThatSnapshotsAreUnknown()
    {
        // As on managed Redis services, which rename or remove CONFIG.
        var messages = await CheckPrivateServerAsync(new RedisStoreOptions(), "--appendonly", "no", "--rename-command", "CONFIG", "");

        Assert.Contains("snapshot settings could not be read", Assert.Single(messages), StringComparison.Ordinal);
    }

    [Fact]
    public async Task CheckServers_InfoAndConfigDisabled_WarnsThatItCouldNotCheck()
    {
        // As on managed Redis services that rename or remove administrative commands.
        var messages = await CheckPrivateServerAsync(new RedisStoreOptions(), "--rename-command", "CONFIG", "", "--rename-command", "INFO", "");

        Assert.Contains(messages, m => m.Contains("Could not check", StringComparison.Ordinal));
    }

    [Fact]
    public async Task TryClaim_ReplicatedWithoutAReplicaToConfirm_FailsAndLeavesTheKeyFree()
    {
        // The shared single server has no replica: WAIT 1 times out, so no claim may be reported as held.
        await using var store = new RedisIdempotencyStore(
            await RedisServer.ConnectAsync(),
            new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix(), Durability = RedisDurability.Replicated, ReplicationTimeout = TimeSpan.FromMilliseconds(50) },
            new ListLogger());
        var key = StoreKey.Create("tenant|1", "POST", "/v1/transfers", Guid.NewGuid().ToString("N"));

        var ex = await Assert.ThrowsAsync<RedisException>(async () => await store.TryClaimAsync(Request(key)));

        Assert.Contains("not acknowledged by 1 Redis replica", ex.Message, StringComparison.Ordinal);
        // The claim that ran on the primary was released: nothing holds the key.
        Assert.Null(await store.GetAsync(key));
    }

    // A store's settings check against a private server started with further settings; the warnings it logged.
    private static async Task<IReadOnlyList<string>> CheckPrivateServerAsync(RedisStoreOptions options, params string[] settings)
    {
        await using var redis = await PrivateRedis.StartAsync(settings);
        var logger = new ListLogger();
        await using var store = new RedisIdempotencyStore(RedisIdempotencyBuilderExtensions.ParseConfiguration(redis.Configuration), options, logger);
        await store.CheckServersAsync();
        return logger.Messages;
    }

    private static ClaimRequest Request(string key) => new(key, new string('a', 64), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(15));

    // A call of the shared claim or completion function (not its definition), and the key it is given.
    [GeneratedRegex(@"(?<!function )\b(?:claim|complete)\((?<key>[^,]+),")]
    private static partial Regex FunctionCall();

    [GeneratedRegex(@"redis\.call\('(?<command>[A-Z]+)'(?:, (?<key>[^,)]+))?")]
    private static partial Regex RedisCall();
}

/// <summary>Keeps the warnings (and worse) a store logs.</summary>
internal sealed class ListLogger : ILogger<RedisIdempotencyStore>
{
    private readonly ConcurrentQueue<string> _messages = new();

    public IReadOnlyList<string> Messages => [.. _messages];

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            _messages.Enqueue(formatter(state, exception));
        }
    }
}
