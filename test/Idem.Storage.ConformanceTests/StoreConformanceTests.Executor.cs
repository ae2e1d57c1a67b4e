using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The executor's flow on this store, through its public API as a background job uses it: no HTTP anywhere.
/// </summary>
public abstract partial class StoreConformanceTests
{
    /// <summary>
    /// An executor on <paramref name="store"/>, registered as an application would register it. Its lease is the
    /// default, not the suite's short <see cref="Lease"/>: a machine that stalls a renewal past a short lease would let
    /// a waiting caller take the key over, which is right, but not what these tests are about.
    /// </summary>
    /// <summary>Settings every executor of the suite starts from (a store's class may turn on a mode, such as batching).</summary>
    protected virtual void ConfigureExecutor(IdempotencyOptions options)
    {
    }

    protected IIdempotentExecutor CreateExecutor(IIdempotencyStore store, Action<IdempotencyOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddIdempotentExecutor(o =>
        {
            o.Retention = Retention;
            ConfigureExecutor(o);
            configure?.Invoke(o);
        });
        services.AddSingleton(store);
        return services.BuildServiceProvider().GetRequiredService<IIdempotentExecutor>();
    }

    protected static IdempotentOperation NewOperation(string? input = null)
        => IdempotentOperation.Create("statements.send", Guid.NewGuid().ToString("N"), input ?? "march", scope: "tenant-1");

    [Fact]
    public async Task RunAsync_ParallelCallersOfOneKey_RunsOnceAndTheRestGetTheStoredValue()
    {
        var store = new CountingStore(await CreateStoreAsync());
        var executor = CreateExecutor(store, o =>
        {
            o.ConcurrentRequests = ConcurrentRequestHandling.WaitThenReplay;
            o.ConcurrentWaitTimeout = TimeSpan.FromMinutes(2);
        });
        var operation = NewOperation();
        var runs = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var callers = Enumerable.Range(0, Racers).Select(_ => Task.Run(async () =>
        {
            await go.Task;
            return await executor.RunAsync(operation, async (_, _) =>
            {
                Interlocked.Increment(ref runs);

                // Held until every caller has tried the key at least once: they all met the first one running.
                while (Volatile.Read(ref store.Claims) < Racers)
                {
                    await Task.Delay(5);
                }

                return "statement-" + Guid.NewGuid().ToString("N");
            });
        })).ToArray();
        go.SetResult();
        var results = await Task.WhenAll(callers);

        Assert.Equal(1, runs);
        Assert.Single(results, r => r.Outcome == IdempotentOutcome.Executed);
        Assert.Equal(Racers - 1, results.Count(r => r.Outcome == IdempotentOutcome.Replayed));
        Assert.Single(results.Select(r => r.Value).Distinct());

        // Some callers found the key in progress and waited: more claims than callers.
        Assert.True(store.Claims > Racers, $"{store.Claims} claims for {Racers} callers: nobody waited.");
    }

    [Fact]
    public async Task RunAsync_CallerWhileFirstRuns_GetsInProgressAndRunsNothing()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var operation = NewOperation();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;

        var first = executor.RunAsync(operation, async (_, _) =>
        {
            Interlocked.Increment(ref runs);
            started.SetResult();
            await release.Task;
            return 42;
        }).AsTask();
        await started.Task;
        var second = await executor.RunAsync(operation, (_, _) =>
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult(7);
        });
        release.SetResult();
        var done = await first;
        var third = await executor.RunAsync(operation, (_, _) => ValueTask.FromResult(7));

        Assert.Equal(IdempotentOutcome.InProgress, second.Outcome);
        Assert.False(second.HasValue);
        Assert.Equal(IdempotentOutcome.Executed, done.Outcome);
        Assert.Equal(IdempotentOutcome.Replayed, third.Outcome);
        Assert.Equal(42, third.Value);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task RunAsync_SameKeyOtherInput_IsMismatchAndRunsNothing()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var key = Guid.NewGuid().ToString("N");
        var runs = 0;
        ValueTask<int> Run(IIdempotencyContext context, CancellationToken ct) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        var first = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { amount = 500 }), Run);
        var other = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { amount = 900 }), Run);
        var same = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { amount = 500 }), Run);

        Assert.Equal(IdempotentOutcome.Executed, first.Outcome);
        Assert.Equal(IdempotentOutcome.Mismatch, other.Outcome);
        Assert.Equal(IdempotentOutcome.Replayed, same.Outcome);
        Assert.Equal(1, same.Value);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task RunAsync_OperationThrows_ReleasesTheKeyAndRethrows()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var operation = NewOperation();

        await Assert.ThrowsAsync<TimeoutException>(async () => await executor.RunAsync<int>(operation, (_, _) => throw new TimeoutException("the mail server did not answer")));
        var retry = await executor.RunAsync(operation, (_, _) => ValueTask.FromResult(1));

        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
    }

    [Fact]
    public async Task RunAsync_FailureAfterRecoveryPoint_RetryResumesThere()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var operation = NewOperation();
        var charges = 0;

        async ValueTask<string> ChargeThenSend(IIdempotencyContext context, CancellationToken ct, bool mailUp)
        {
            if (context.RecoveryPoint is null)
            {
                Interlocked.Increment(ref charges);
                await context.CommitPhaseAsync("charged", ct);
            }

            await context.BeginPhaseAsync(ct);
            return mailUp ? "sent" : throw new TimeoutException("the mail server did not answer");
        }

        await Assert.ThrowsAsync<TimeoutException>(async () => await executor.RunAsync(operation, (c, ct) => ChargeThenSend(c, ct, mailUp: false)));
        string? seen = null;
        var retry = await executor.RunAsync(operation, (c, ct) =>
        {
            seen = c.RecoveryPoint;
            return ChargeThenSend(c, ct, mailUp: true);
        });

        Assert.Equal("charged", seen);
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.Equal("sent", retry.Value);
        Assert.Equal(1, charges);
    }

    [Fact]
    public async Task RunAsync_HolderCrashedAtRecoveryPoint_RetryWaitsForTheLeaseThenResumes()
    {
        var store = await CreateStoreAsync();
        var executor = CreateExecutor(store);
        var operation = NewOperation();

        // A holder that recorded its point and died: nobody releases the key, nobody renews it.
        var crashed = await store.TryClaimAsync(new ClaimRequest(operation.StoreKey, operation.Fingerprint, Lease, Retention));
        Assert.Equal(ClaimOutcome.Claimed, crashed.Outcome);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(crashed.Lease!, "charged"));

        var early = await executor.RunAsync(operation, (_, _) => ValueTask.FromResult("early"));
        await AdvanceTimeAsync(Lease + Tick);
        string? seen = null;
        var late = await executor.RunAsync(operation, (c, _) =>
        {
            seen = c.RecoveryPoint;
            return ValueTask.FromResult("resumed");
        });

        Assert.Equal(IdempotentOutcome.InProgress, early.Outcome);
        Assert.Equal(IdempotentOutcome.Executed, late.Outcome);
        Assert.Equal("charged", seen);
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(crashed.Lease!, Response(200, "stale")));
    }

    [Fact]
    public async Task ExecuteAsync_StoreDown_IsStoreUnavailableAndRunsNothing()
    {
        var executor = CreateExecutor(new CountingStore(await CreateStoreAsync()) { Down = true });
        var runs = 0;

        var execution = await executor.ExecuteAsync(NewOperation(), 0, (_, _, _) =>
        {
            Interlocked.Increment(ref runs);
            return ValueTask.FromResult(OperationResult.Release());
        });

        Assert.Equal(IdempotentOutcome.StoreUnavailable, execution.Outcome);
        Assert.False(execution.OperationRan);
        Assert.IsType<IOException>(execution.Exception);
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task ExecuteAsync_OperationAsksForRelease_LeavesTheKeyFreeForARetry()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var operation = NewOperation();

        var released = await executor.ExecuteAsync(operation, 0, (_, _, _) => ValueTask.FromResult(OperationResult.Release()));
        var retry = await executor.ExecuteAsync(operation, 0, (_, _, _) => ValueTask.FromResult(OperationResult.Complete(Response(201, "made"))));
        var replay = await executor.ExecuteAsync(operation, 0, (_, _, _) => throw new InvalidOperationException("must not run"));

        Assert.Equal(IdempotentOutcome.Executed, released.Outcome);
        Assert.Null(released.Response);
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.Equal(IdempotentOutcome.Replayed, replay.Outcome);
        AssertSameResponse(Response(201, "made"), replay.Response);
    }

    [Fact]
    public async Task ExecuteAsync_OperationAbandons_KeyStaysInProgressUntilItsLeaseEnds()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var operation = NewOperation() with { LeaseDuration = Lease };

        var abandoned = await executor.ExecuteAsync(operation, 0, (_, _, _) => ValueTask.FromResult(OperationResult.Abandon()));
        var held = await executor.ExecuteAsync(operation, 0, (_, _, _) => throw new InvalidOperationException("must not run while the key is held"));
        await AdvanceTimeAsync(Lease + Tick);
        var retry = await executor.ExecuteAsync(operation, 0, (_, _, _) => ValueTask.FromResult(OperationResult.Complete(Response(201, "made"))));

        Assert.Equal(IdempotentOutcome.Executed, abandoned.Outcome);
        Assert.Null(abandoned.Response);
        Assert.Equal(IdempotentOutcome.InProgress, held.Outcome);
        Assert.False(held.OperationRan);
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
    }

    /// <summary>
    /// Counts claims on the way in, and can play a store that is down. It takes batches when the store it wraps does (so
    /// the executor's tests go through batches in the batching suite), counting each claim of a batch.
    /// </summary>
    protected class CountingStore(IIdempotencyStore inner) : IBatchingStore
    {
        public int Claims;

        public bool Down { get; init; }

        protected IIdempotencyStore Inner { get; } = inner;

        private IBatchingStore Batching => Inner as IBatchingStore
            ?? throw new NotSupportedException("Batches reach a counting store only in the batching suite, whose stores take them.");

        public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Claims);
            return Down ? ValueTask.FromException<ClaimResult>(new IOException("connection refused")) : Inner.TryClaimAsync(request, cancellationToken);
        }

        public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default) => Inner.CompleteAsync(lease, response, cancellationToken);

        public async ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
        {
            // Counted once the store has answered: a batch can wait behind another, and a test that holds its operation
            // until every claim was made must know that each one met it running.
            try
            {
                if (Down)
                {
                    throw new IOException("connection refused");
                }

                await Batching.ClaimManyAsync(requests, results, cancellationToken);
            }
            finally
            {
                Interlocked.Add(ref Claims, requests.Length);
            }
        }

        public ValueTask CompleteManyAsync(
            ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default)
            => Batching.CompleteManyAsync(leases, responses, results, cancellationToken);

        public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Inner.ReleaseAsync(lease, cancellationToken);

        public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => Inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

        public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Inner.RenewAsync(lease, cancellationToken);

        public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => Inner.GetAsync(storeKey, cancellationToken);

        public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => Inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);
    }

    /// <summary>Counts transactional claims too.</summary>
    protected sealed class CountingTransactionalStore(ITransactionalIdempotencyStore inner) : CountingStore(inner), ITransactionalIdempotencyStore
    {
        public ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Claims);
            return ((ITransactionalIdempotencyStore)Inner).BeginTransactionalAsync(request, cancellationToken);
        }
    }
}
