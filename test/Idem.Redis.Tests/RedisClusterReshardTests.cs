using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Idem.Storage;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Idem.Redis.Tests;

/// <summary>
/// Slots (and the records in them) moved between primaries with <c>redis-cli --cluster reshard</c> while clients claim,
/// complete and replay keys: Redis answers MOVED and ASK, and StackExchange.Redis follows them. No claim is lost, no key
/// runs twice, and the only errors a client sees are Redis errors (the 503s a retry with the same key survives). Records
/// live two minutes.
/// </summary>
[Collection(RedisCluster.DestructiveCollection)]
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterReshardTests(ITestOutputHelper output)
{
    private const int Workers = 8;
    private const int Slots = 1500;
    private static readonly IdempotencyResponse Response = new(201, [], "{\"ok\":true}"u8.ToArray());

    [Theory]
    [InlineData(RedisDurability.Primary)]
    [InlineData(RedisDurability.Replicated)]
    public async Task Reshard_UnderLoad_NoClaimLostNoKeyRunsTwiceOnlyRetryableErrors(RedisDurability durability)
    {
        await RedisCluster.WaitHealthyAsync();
        await using var store = RedisCluster.CreateStore(o =>
        {
            o.Durability = durability;
            o.ExpiryGrace = TimeSpan.Zero;
        });
        var keys = new List<string>();
        var runs = new ConcurrentDictionary<string, int>();
        var completed = new ConcurrentDictionary<string, byte>();
        var outcomes = new ConcurrentDictionary<ClaimOutcome, int>();
        var errors = new ConcurrentQueue<Exception>();
        var moved = await RedisCluster.ErrorRepliesAsync("MOVED");
        var asked = await RedisCluster.ErrorRepliesAsync("ASK");
        var stop = new CancellationTokenSource();

        // Every other call claims a new key (a first execution); the others claim a key claimed before, at random, which
        // must replay (or still be in progress), never run again.
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                string key;
                lock (keys)
                {
                    if (i % 2 == 0 || keys.Count == 0)
                    {
                        key = StoreKey.Create($"tenant-{w}-{i % 31}|1", "POST", "/v1/transfers", Guid.NewGuid().ToString("N"));
                        keys.Add(key);
                    }
                    else
                    {
                        key = keys[Random.Shared.Next(keys.Count)];
                    }
                }

                try
                {
                    var claim = await store.TryClaimAsync(new ClaimRequest(key, new string('a', 64), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2)));
                    outcomes.AddOrUpdate(claim.Outcome, 1, (_, n) => n + 1);
                    if (claim.Outcome == ClaimOutcome.Claimed)
                    {
                        runs.AddOrUpdate(key, 1, (_, n) => n + 1);
                        if (await store.CompleteAsync(claim.Lease!, Response) == LeaseStatus.Ok)
                        {
                            completed[key] = 0;
                        }
                    }
                }
                catch (Exception ex)
                {
                    errors.Enqueue(ex);
                    await Task.Delay(20);
                }
            }
        })).ToArray();

        var clock = Stopwatch.StartNew();
        try
        {
            await Task.Delay(500);
            var nodes = await RedisCluster.NodesAsync(RedisCluster.Ports[0]);
            var primaries = nodes.Where(n => n.IsPrimary && n.HasSlots).OrderBy(n => n.Port).ToList();

            // There and back: the layout ends as it began, with every slot moved twice under load.
            await RedisCluster.ReshardAsync(primaries[0], primaries[1], Slots);
            await RedisCluster.ReshardAsync(primaries[1], primaries[0], Slots);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        var reshard = clock.Elapsed;
        moved = await RedisCluster.ErrorRepliesAsync("MOVED") - moved;
        asked = await RedisCluster.ErrorRepliesAsync("ASK") - asked;

        // Every key that ran once replays; nothing claimed got lost.
        var lost = 0;
        foreach (var key in runs.Keys)
        {
            var again = await store.TryClaimAsync(new ClaimRequest(key, new string('a', 64), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(2)));
            if (again.Outcome == ClaimOutcome.Claimed || (completed.ContainsKey(key) && again.Outcome != ClaimOutcome.Completed))
            {
                lost++;
            }
        }

        await RedisCluster.DeleteAsync(store, keys);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"RESHARD durability={durability}: {Slots} slots there and back in {reshard.TotalSeconds:F1} s; keys run {runs.Count}, " +
            $"outcomes {string.Join(", ", outcomes.OrderBy(o => o.Key).Select(o => $"{o.Key} {o.Value}"))}; MOVED {moved}, ASK {asked}; " +
            $"errors {errors.Count} ({string.Join(", ", errors.Select(e => e.GetType().Name + ": " + e.Message).Distinct().Take(5))}); lost {lost}"));

        Assert.All(runs, r => Assert.Equal(1, r.Value));
        Assert.Equal(0, lost);
        Assert.All(errors, e => Assert.IsAssignableFrom<RedisException>(e));

        // The slots really moved under the clients: Redis redirected them.
        Assert.True(moved > 0, "No MOVED reply was seen: the store never met a moved slot.");
        Assert.True(outcomes.GetValueOrDefault(ClaimOutcome.Completed) > 1000, "Fewer than 1000 replays during the resharding.");
    }
}
