using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Idem.Storage;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Tests.Storage;

/// <summary>
/// The in-memory store keeps keys and responses as bytes in shared arrays and moves the live ones to new arrays once
/// freed space outweighs them. These tests make it move records often and check that none is lost, mixed up or changed.
/// </summary>
public sealed class InMemoryStoreArenaTests
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan ShortRetention = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan LongRetention = TimeSpan.FromDays(1);

    [Fact]
    public async Task Compaction_KeepsEveryLiveRecordWhole()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryIdempotencyStore(time, compactionFloor: 1);
        const int Keys = 3000;
        for (var i = 0; i < Keys; i++)
        {
            var lease = Claimed(await store.TryClaimAsync(Request(i)));
            if (i % 3 == 0)
            {
                Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "step-" + i));
                Assert.Equal(LeaseStatus.Ok, i % 2 == 0 ? await store.ReleaseAsync(lease) : await store.CompleteAsync(lease, Response(i)));
            }
            else if (i % 7 == 0)
            {
                Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));
            }
            else
            {
                Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, Response(i)));
            }
        }

        // A replay taken before the records move keeps its bytes.
        var before = await store.TryClaimAsync(Request(1));
        Assert.Equal(ClaimOutcome.Completed, before.Outcome);
        var compactionsBefore = store.ArenaStatistics().Compactions;

        time.Advance(ShortRetention + TimeSpan.FromMinutes(1));
        var released = Enumerable.Range(0, Keys).Count(i => i % 3 != 0 && i % 7 == 0);
        Assert.Equal(Keys - released, await store.PurgeAsync(time.GetUtcNow(), Keys) + store.Count);
        Assert.True(store.ArenaStatistics().Compactions > compactionsBefore, "Purging half the records should have moved the rest.");

        Assert.Equal(Body(1), before.Response!.Body.ToArray());
        for (var i = 0; i < Keys; i++)
        {
            var record = await store.GetAsync(Key(i));
            var kept = i % 2 == 1 && !(i % 3 != 0 && i % 7 == 0);
            if (!kept)
            {
                Assert.Null(record);
                continue;
            }

            Assert.NotNull(record);
            Assert.Equal(Fingerprint(i), record.Fingerprint);
            Assert.Equal(i % 3 == 0 ? "step-" + i : null, record.RecoveryPoint);
            Assert.Equal(IdempotencyRecordState.Completed, record.State);
            var replay = await store.TryClaimAsync(Request(i));
            Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
            Assert.Equal(Body(i), replay.Response!.Body.ToArray());
            Assert.Equal(201, replay.Response.StatusCode);
            Assert.Equal([new("Location", "/things/" + i)], replay.Response.Headers);
            Assert.Equal(ClaimOutcome.Mismatch, (await store.TryClaimAsync(Request(i) with { Fingerprint = Fingerprint(i + 1) })).Outcome);
        }
    }

    [Fact]
    public async Task Compaction_KeepsParkedRecordsAtTheirRecoveryPoint()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryIdempotencyStore(time, compactionFloor: 1);
        for (var i = 0; i < 500; i++)
        {
            var lease = Claimed(await store.TryClaimAsync(Request(i)));
            if (i % 2 == 0)
            {
                Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "parked-" + i));
            }

            // Odd keys are removed, so the parked ones move.
            Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));
        }

        Assert.True(store.ArenaStatistics().Compactions > 0);
        Assert.Equal(250, store.Count);
        for (var i = 0; i < 500; i += 2)
        {
            var lease = Claimed(await store.TryClaimAsync(Request(i)));
            Assert.Equal("parked-" + i, lease.RecoveryPoint);
        }
    }

    [Fact]
    public async Task ResponseLargerThanAQuarterMegabyte_GetsItsOwnArray_FreedWithItsRecord()
    {
        var time = new FakeTimeProvider();
        var store = new InMemoryIdempotencyStore(time);
        var body = RandomNumberGenerator.GetBytes(400 * 1024);
        var lease = Claimed(await store.TryClaimAsync(Request(2)));
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, new IdempotencyResponse(200, [], body)));
        var held = store.ArenaStatistics().ArenaBytes;
        Assert.True(held >= body.Length, $"The arena holds {held} bytes.");

        var replay = await store.TryClaimAsync(Request(2));
        Assert.Equal(body, replay.Response!.Body.ToArray());

        time.Advance(ShortRetention + TimeSpan.FromMinutes(1));
        Assert.Equal(1, await store.PurgeAsync(time.GetUtcNow(), 10));
        Assert.True(store.ArenaStatistics().ArenaBytes <= held - body.Length, "The record's own array should go with it.");
        Assert.Equal(body, replay.Response.Body.ToArray());
    }

    [Fact]
    public async Task ParallelClaimsReleasesAndCompletions_WhileRecordsMove_CompleteEachKeyOnceAndNeverMixThemUp()
    {
        var store = new InMemoryIdempotencyStore(TimeProvider.System, compactionFloor: 1);
        const int Keys = 400;
        const int Workers = 8;
        var completions = new int[Keys];
        var completedBodies = new ConcurrentDictionary<int, byte[]>();
        var failures = new ConcurrentQueue<string>();
        using var start = new Barrier(Workers);
        var workers = Enumerable.Range(0, Workers).Select(w => Task.Factory.StartNew(() =>
        {
            var random = new Random(w);
            start.SignalAndWait();
            for (var n = 0; n < 6000; n++)
            {
                var i = random.Next(Keys);
                var claim = store.TryClaimAsync(Request(i, LongRetention)).AsTask().GetAwaiter().GetResult();
                switch (claim.Outcome)
                {
                    case ClaimOutcome.Claimed when random.Next(4) != 0:
                        // Most claims give the key back: freed space, and records that move.
                        store.ReleaseAsync(claim.Lease!).AsTask().GetAwaiter().GetResult();
                        break;
                    case ClaimOutcome.Claimed:
                        // Noted before completing: another worker may replay it the moment it is complete.
                        var body = Encoding.UTF8.GetBytes($"key {i}, worker {w}, step {n}" + new string('x', i % 200));
                        completedBodies[i] = body;
                        if (store.CompleteAsync(claim.Lease!, new IdempotencyResponse(200, [], body)).AsTask().GetAwaiter().GetResult() == LeaseStatus.Ok)
                        {
                            Interlocked.Increment(ref completions[i]);
                        }
                        else
                        {
                            failures.Enqueue($"Key {i}: a lease of 30 s was lost within the test.");
                        }

                        break;
                    case ClaimOutcome.Completed:
                        if (!completedBodies.TryGetValue(i, out var expected) || !claim.Response!.Body.Span.SequenceEqual(expected))
                        {
                            failures.Enqueue($"Key {i} replayed '{Encoding.UTF8.GetString(claim.Response!.Body.Span)}'.");
                        }

                        break;
                    case ClaimOutcome.Mismatch:
                        failures.Enqueue($"Key {i} reported a mismatch for its own fingerprint.");
                        break;
                }
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        await Task.WhenAll(workers);

        Assert.True(failures.IsEmpty, string.Join(Environment.NewLine, failures.Take(10)));
        Assert.All(completions, count => Assert.InRange(count, 0, 1));
        Assert.True(store.ArenaStatistics().Compactions > 0, "The run should have moved records.");
        foreach (var (i, body) in completedBodies)
        {
            var replay = await store.TryClaimAsync(Request(i, LongRetention));
            Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
            Assert.Equal(body, replay.Response!.Body.ToArray());
        }
    }

    private static IdempotencyLease Claimed(ClaimResult result)
    {
        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        return result.Lease!;
    }

    // Odd keys are kept for a day, even ones for a minute; every fifth fingerprint is not a hex digest.
    private static ClaimRequest Request(int i, TimeSpan? retention = null)
        => new(Key(i), Fingerprint(i), Lease, retention ?? (i % 2 == 1 ? LongRetention : ShortRetention));

    private static string Key(int i) => $"tenant-{i % 13}|POST|/things|key-{i}";

    private static string Fingerprint(int i)
        => i % 5 == 0 ? "custom fingerprint " + i : Convert.ToHexStringLower(SHA256.HashData(BitConverter.GetBytes(i)));

    private static byte[] Body(int i) => Encoding.UTF8.GetBytes($"{{\"thing\":{i},\"padding\":\"{new string('p', i % 300)}\"}}");

    private static IdempotencyResponse Response(int i) => new(201, [new("Location", "/things/" + i)], Body(i));
}
