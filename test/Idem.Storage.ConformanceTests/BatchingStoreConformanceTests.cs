using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The suite once more on a store that takes claims and completions in batches (<see cref="IBatchingStore"/>): every
/// claim and completion of the suite goes through <see cref="IBatchingStore.ClaimManyAsync"/> and
/// <see cref="IBatchingStore.CompleteManyAsync"/> (a batch of one when a test calls the store itself), and the executor's
/// tests run with <see cref="IdempotencyOptions.Batching"/> on, through the engine's batches. The tests here show batches
/// of many: each request answered as it would be alone, and concurrent operations sharing store calls.
/// </summary>
public abstract class BatchingStoreConformanceTests : StoreConformanceTests
{
    /// <summary>A fresh store that shares no records with any other test.</summary>
    protected abstract ValueTask<IBatchingStore> CreateBatchingStoreAsync();

    /// <inheritdoc/>
    protected override async ValueTask<IIdempotencyStore> CreateStoreAsync() => new ThroughBatches(await CreateBatchingStoreAsync());

    /// <inheritdoc/>
    protected override void ConfigureExecutor(IdempotencyOptions options) => options.Batching.Enabled = true;

    [Fact]
    public async Task ClaimMany_EveryOutcomeInOneBatch_EachAnsweredAsItWouldBeAlone()
    {
        var store = await CreateBatchingStoreAsync();
        var (completed, running, other, fresh, twice) = (NewKey(), NewKey(), NewKey(), NewKey(), NewKey());
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(await ClaimAsync(store, completed), Response(201, "done")));
        await ClaimAsync(store, running);
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(await ClaimAsync(store, other), Response(201, "other")));

        ClaimRequest[] requests = [Request(completed), Request(running), Request(other, FingerprintB), Request(fresh), Request(twice), Request(twice)];
        var results = new ClaimResult[requests.Length];
        await store.ClaimManyAsync(requests, results);

        Assert.Equal(ClaimOutcome.Completed, results[0].Outcome);
        AssertSameResponse(Response(201, "done"), results[0].Response);
        Assert.Equal(ClaimOutcome.InProgress, results[1].Outcome);
        Assert.InRange(results[1].RetryAfter, TimeSpan.FromTicks(1), Lease);
        Assert.Equal(ClaimOutcome.Mismatch, results[2].Outcome);
        Assert.Equal(ClaimOutcome.Claimed, results[3].Outcome);
        Assert.Equal(fresh, results[3].Lease!.StoreKey);

        // One key twice in a batch: the first claims it, the second finds it in progress.
        Assert.Equal(ClaimOutcome.Claimed, results[4].Outcome);
        Assert.Equal(ClaimOutcome.InProgress, results[5].Outcome);

        // The leases are real: a claim of its own finds the keys held.
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(fresh))).Outcome);
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(twice))).Outcome);
    }

    [Fact]
    public async Task ClaimMany_LapsedLeaseBesideLiveKeys_TakenOverWhileTheOthersAnswerAsAlone()
    {
        var store = await CreateBatchingStoreAsync();
        var (lapsed, running, fresh) = (NewKey(), NewKey(), NewKey());
        var first = await ClaimAsync(store, lapsed);
        await AdvanceTimeAsync(Lease + Tick);
        var holder = await ClaimAsync(store, running);

        ClaimRequest[] requests = [Request(fresh), Request(lapsed), Request(running)];
        var results = new ClaimResult[requests.Length];
        await store.ClaimManyAsync(requests, results);

        Assert.Equal(ClaimOutcome.Claimed, results[0].Outcome);
        Assert.Equal(ClaimOutcome.Claimed, results[1].Outcome);
        Assert.NotEqual(first.OwnerToken, results[1].Lease!.OwnerToken);
        Assert.Equal(ClaimOutcome.InProgress, results[2].Outcome);

        // The takeover's lease holds the key; the first holder's does not.
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(first, Response(201, "stale")));
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(results[1].Lease!, Response(201, "taken over")));
        AssertSameResponse(Response(201, "taken over"), (await store.TryClaimAsync(Request(lapsed))).Response);
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(holder, Response(201, "held")));
    }

    [Fact]
    public async Task CompleteMany_OwnLeasesAndOneTakenOver_EachStatusItsOwn()
    {
        var store = await CreateBatchingStoreAsync();
        var keys = Enumerable.Range(0, 3).Select(_ => NewKey()).ToArray();
        var leases = new List<IdempotencyLease>();
        foreach (var key in keys)
        {
            leases.Add(await ClaimAsync(store, key));
        }

        // The last key is released and claimed again: its first lease no longer holds it.
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(leases[2]));
        var taker = await ClaimAsync(store, keys[2]);

        var results = new LeaseStatus[3];
        await store.CompleteManyAsync(leases.ToArray(), keys.Select((k, i) => Response(201, "result " + i)).ToArray(), results);

        Assert.Equal([LeaseStatus.Ok, LeaseStatus.Ok, LeaseStatus.LeaseLost], results);
        for (var i = 0; i < 2; i++)
        {
            AssertSameResponse(Response(201, "result " + i), (await store.TryClaimAsync(Request(keys[i]))).Response);
        }

        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(keys[2]))).Outcome);
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(taker, Response(201, "taker")));
    }

    [Fact]
    public async Task Executor_ConcurrentFirstExecutions_ShareStoreCallsAndEachRunsOnce()
    {
        var store = new ThroughBatches(await CreateBatchingStoreAsync());
        var executor = CreateExecutor(store);
        const int Operations = 48;
        var operations = Enumerable.Range(0, Operations).Select(i => NewOperation("input " + i)).ToArray();
        var runs = new int[Operations];
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var callers = Enumerable.Range(0, Operations).Select(i => Task.Run(async () =>
        {
            await go.Task;
            return await executor.RunAsync(operations[i], (_, _) =>
            {
                Interlocked.Increment(ref runs[i]);
                return ValueTask.FromResult(i);
            });
        })).ToArray();
        go.SetResult();
        var results = await Task.WhenAll(callers);

        Assert.All(results, (r, i) => Assert.Equal((IdempotentOutcome.Executed, i), (r.Outcome, r.Value)));
        Assert.All(runs, r => Assert.Equal(1, r));

        // They went to the store in batches: fewer calls than operations, for claims and for completions.
        Assert.Equal(Operations, Volatile.Read(ref store.Claimed));
        Assert.InRange(Volatile.Read(ref store.ClaimCalls), 1, Operations - 1);
        Assert.Equal(Operations, Volatile.Read(ref store.Completed));
        Assert.InRange(Volatile.Read(ref store.CompleteCalls), 1, Operations - 1);

        // Each stored its own result.
        for (var i = 0; i < Operations; i++)
        {
            var replay = await executor.RunAsync(operations[i], (_, _) => ValueTask.FromResult(-1));
            Assert.Equal((IdempotentOutcome.Replayed, i), (replay.Outcome, replay.Value));
        }
    }

    /// <summary>
    /// The store as the suite sees it: every claim and completion through the batch calls (one request when called alone),
    /// which it counts.
    /// </summary>
    protected sealed class ThroughBatches(IBatchingStore inner) : ForwardingBatchingStore(inner)
    {
        public int ClaimCalls;
        public int Claimed;
        public int CompleteCalls;
        public int Completed;

        public override async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
        {
            var results = new ClaimResult[1];
            await ClaimManyAsync(new[] { request }, results, cancellationToken);
            return results[0];
        }

        public override async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
        {
            var results = new LeaseStatus[1];
            await CompleteManyAsync(new[] { lease }, new[] { response }, results, cancellationToken);
            return results[0];
        }

        public override ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref ClaimCalls);
            Interlocked.Add(ref Claimed, requests.Length);
            return Inner.ClaimManyAsync(requests, results, cancellationToken);
        }

        public override ValueTask CompleteManyAsync(
            ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref CompleteCalls);
            Interlocked.Add(ref Completed, leases.Length);
            return Inner.CompleteManyAsync(leases, responses, results, cancellationToken);
        }
    }
}
