using System.Diagnostics;
using Idem.Redis;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Idem.Benchmarks;

/// <summary>
/// CPU and allocations per first execution at the store level, under concurrency (what the HTTP harness's
/// "CPU µs/req" sees, without HTTP): the Redis store's claim+complete against the same two round trips written by hand
/// (<c>SET NX</c> + <c>SET XX</c>, and two trivial <c>EVALSHA</c> scripts), and the in-memory store as the no-I/O floor.
/// The variants take turns, round after round, so machine load hits them alike. Run with
/// <c>dotnet run -c Release --project bench/Idem.Benchmarks -- --redis-cpu [workers] [seconds] [rounds]</c>;
/// needs a Redis (<c>IDEM_TEST_REDIS</c>, default 127.0.0.1:6379). CPU is this process's only (not Redis's).
/// </summary>
internal static class RedisCpuProbe
{
    private const string RawClaim = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])";
    private const string RawComplete = "return redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2])";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(2);

    public static async Task<int> RunAsync(string[] args)
    {
        var workers = args.Length > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 32;
        var seconds = args.Length > 1 ? double.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : 3;
        var rounds = args.Length > 2 ? int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture) : 3;
        var configuration = Environment.GetEnvironmentVariable("IDEM_TEST_REDIS") is { Length: > 0 } value ? value : "127.0.0.1:6379";
        var prefix = "idem-cpu:" + Guid.NewGuid().ToString("N")[..8] + ":";

        await using var connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        var database = connection.GetDatabase();
        var server = connection.GetServers().First(s => !s.IsReplica);
        var rawClaim = await server.ScriptLoadAsync(RawClaim);
        var rawComplete = await server.ScriptLoadAsync(RawComplete);
        var fingerprint = new string('a', 64);
        var response = new IdempotencyResponse(201, [new("Content-Type", "application/json; charset=utf-8"), new("Location", "/v1/transfers/42")], """{"id":42,"status":"accepted"}"""u8.ToArray());
        var encoded = IdempotencyResponseCodec.Encode(response);
        var redisStore = new RedisIdempotencyStore(connection, new RedisStoreOptions { KeyPrefix = prefix }, NullLogger<RedisIdempotencyStore>.Instance);
        var memoryStore = new InMemoryIdempotencyStore();

        // The connection AddRedisStore(string) makes, as the HTTP harness runs it: the store's defaults (fail fast, 1 s
        // timeouts) and the application's logger factory (no providers, as in the harness).
        var registered = Microsoft.Extensions.DependencyInjection.RedisIdempotencyBuilderExtensions.ParseConfiguration(configuration);
        using var loggerFactory = LoggerFactory.Create(_ => { });
        registered.LoggerFactory = loggerFactory;
        await using var registeredConnection = await ConnectionMultiplexer.ConnectAsync(registered);
        var registeredStore = new RedisIdempotencyStore(registeredConnection, new RedisStoreOptions { KeyPrefix = prefix }, NullLogger<RedisIdempotencyStore>.Instance);

        async Task StoreFirstExecution(IIdempotencyStore store)
        {
            var claim = await store.TryClaimAsync(new ClaimRequest(StoreKey.Create("anonymous", "POST", "/v1/transfers", Guid.NewGuid().ToString()), fingerprint, Lease, Retention));
            await store.CompleteAsync(claim.Lease!, response);
        }

        var variants = new (string Name, Func<Task> Run)[]
        {
            ("SET NX + SET XX (no Idem)", async () =>
            {
                RedisKey key = prefix + "raw:" + Guid.NewGuid().ToString("N");
                if (await database.StringSetAsync(key, fingerprint, Lease, When.NotExists))
                {
                    await database.StringSetAsync(key, encoded, Retention, When.Exists);
                }
            }),
            ("EVALSHA + EVALSHA (no Idem)", async () =>
            {
                RedisKey[] keys = [prefix + "raw:" + Guid.NewGuid().ToString("N")];
                await database.ScriptEvaluateAsync(rawClaim, keys, [fingerprint, (long)Lease.TotalMilliseconds]);
                await database.ScriptEvaluateAsync(rawComplete, keys, [encoded, (long)Retention.TotalMilliseconds]);
            }),
            ("RedisIdempotencyStore claim+complete", () => StoreFirstExecution(redisStore)),
            ("RedisIdempotencyStore claim+complete, AddRedisStore's connection settings", () => StoreFirstExecution(registeredStore)),
            ("InMemoryIdempotencyStore claim+complete", () => StoreFirstExecution(memoryStore)),
        };

        foreach (var (_, run) in variants)
        {
            await MeasureAsync(run, workers, TimeSpan.FromSeconds(1)); // warm up: JIT, scripts cached
        }

        var results = variants.Select(_ => new List<(double OpsPerSecond, double CpuMicros, double Bytes)>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var i = 0; i < variants.Length; i++)
            {
                results[i].Add(await MeasureAsync(variants[i].Run, workers, TimeSpan.FromSeconds(seconds)));
            }
        }

        Console.WriteLine($"{workers} workers, {rounds} rounds of {seconds} s each, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]} at the end");
        Console.WriteLine("| variant | ops/s (median) | CPU µs/op (median) | CPU µs/op per round | allocated B/op |");
        Console.WriteLine("| --- | ---: | ---: | --- | ---: |");
        for (var i = 0; i < variants.Length; i++)
        {
            var r = results[i];
            Console.WriteLine($"| {variants[i].Name} | {Median(r.Select(x => x.OpsPerSecond)):N0} | {Median(r.Select(x => x.CpuMicros)):N0} | {string.Join(", ", r.Select(x => x.CpuMicros.ToString("N0", System.Globalization.CultureInfo.InvariantCulture)))} | {Median(r.Select(x => x.Bytes)):N0} |");
        }

        return 0;
    }

    private static async Task<(double, double, double)> MeasureAsync(Func<Task> run, int workers, TimeSpan duration)
    {
        var process = Process.GetCurrentProcess();
        GC.Collect();
        long operations = 0;
        var stop = Stopwatch.StartNew();
        var cpuBefore = process.TotalProcessorTime;
        var bytesBefore = GC.GetTotalAllocatedBytes(precise: true);
        var tasks = Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
        {
            long mine = 0;
            while (stop.Elapsed < duration)
            {
                await run();
                mine++;
            }

            Interlocked.Add(ref operations, mine);
        })).ToArray();
        await Task.WhenAll(tasks);
        var elapsed = stop.Elapsed;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var bytes = GC.GetTotalAllocatedBytes(precise: true) - bytesBefore;
        return (operations / elapsed.TotalSeconds, cpu.TotalMicroseconds / operations, (double)bytes / operations);
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
