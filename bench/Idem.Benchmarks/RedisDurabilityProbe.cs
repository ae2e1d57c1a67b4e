using System.Diagnostics;
using System.Globalization;
using Idem.Redis;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Idem.Benchmarks;

/// <summary>
/// First executions (claim + complete of a new key) per second through the Redis store, on the single server and on the
/// Redis Cluster, without and with <see cref="RedisDurability.Replicated"/> (WAIT 1 after each write), in one sitting:
/// the variants take turns, round after round, so machine load hits them alike. Each store makes its own connection as
/// <c>AddRedisStore(string)</c> does. Run with
/// <c>dotnet run -c Release --project bench/Idem.Benchmarks -- --redis-durability [workers] [seconds] [rounds]</c>; needs
/// <c>IDEM_TEST_REDIS</c> and <c>IDEM_TEST_REDIS_CLUSTER</c> (eng/provision.sh writes both).
/// </summary>
internal static class RedisDurabilityProbe
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(2);

    public static async Task<int> RunAsync(string[] args)
    {
        var workers = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 32;
        var seconds = args.Length > 1 ? double.Parse(args[1], CultureInfo.InvariantCulture) : 3;
        var rounds = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 3;
        var single = Environment.GetEnvironmentVariable("IDEM_TEST_REDIS") is { Length: > 0 } s ? s : "127.0.0.1:6379";
        var cluster = Environment.GetEnvironmentVariable("IDEM_TEST_REDIS_CLUSTER") ?? throw new InvalidOperationException("IDEM_TEST_REDIS_CLUSTER is not set.");
        var prefix = "idem-durability:" + Guid.NewGuid().ToString("N")[..8] + ":";
        var fingerprint = new string('a', 64);
        var response = new IdempotencyResponse(201, [new("Content-Type", "application/json; charset=utf-8")], """{"id":42,"status":"accepted"}"""u8.ToArray());

        RedisIdempotencyStore Store(string configuration, RedisDurability durability)
            => new(RedisIdempotencyBuilderExtensions.ParseConfiguration(configuration), new RedisStoreOptions { KeyPrefix = prefix, Durability = durability }, NullLogger<RedisIdempotencyStore>.Instance);

        var variants = new (string Name, RedisIdempotencyStore Store)[]
        {
            ("single server, Primary", Store(single, RedisDurability.Primary)),
            ("cluster, Primary", Store(cluster, RedisDurability.Primary)),
            ("cluster, Replicated (WAIT 1)", Store(cluster, RedisDurability.Replicated)),
        };

        async Task FirstExecution(IIdempotencyStore store)
        {
            var claim = await store.TryClaimAsync(new ClaimRequest(StoreKey.Create("tenant|1", "POST", "/v1/transfers", Guid.NewGuid().ToString("N")), fingerprint, Lease, Retention));
            await store.CompleteAsync(claim.Lease!, response);
        }

        // Warm up: connect, load the scripts on every primary.
        foreach (var (_, store) in variants)
        {
            for (var i = 0; i < 200; i++)
            {
                await FirstExecution(store);
            }
        }

        var totals = new (long Operations, double Seconds)[variants.Length];
        for (var round = 0; round < rounds; round++)
        {
            for (var v = 0; v < variants.Length; v++)
            {
                var store = variants[v].Store;
                long done = 0;
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(async () =>
                {
                    while (clock.Elapsed.TotalSeconds < seconds)
                    {
                        await FirstExecution(store);
                        Interlocked.Increment(ref done);
                    }
                })));
                totals[v].Operations += done;
                totals[v].Seconds += clock.Elapsed.TotalSeconds;
            }
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"claim+complete of new keys, {workers} concurrent callers, {rounds} rounds of {seconds} s each"));
        var baseline = totals[0].Operations / totals[0].Seconds;
        for (var v = 0; v < variants.Length; v++)
        {
            var rate = totals[v].Operations / totals[v].Seconds;
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {variants[v].Name,-32} {rate,9:F0} /s   {rate / baseline,5:F2}x single server"));
        }

        foreach (var (_, store) in variants)
        {
            await store.DisposeAsync();
        }

        return 0;
    }
}
