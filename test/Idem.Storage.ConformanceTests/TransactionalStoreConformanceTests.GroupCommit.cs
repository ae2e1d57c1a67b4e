using System.Data.Common;
using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// Group commit on this store: concurrent transactional operations share one transaction, each in a savepoint of its own;
/// one that fails is answered alone and the others commit with their own results; a batch that cannot commit fails every
/// operation in it as if each had failed alone.
/// </summary>
public abstract partial class TransactionalStoreConformanceTests
{
    private const int GroupSize = 12;

    [Fact]
    public async Task GroupCommit_ConcurrentOperations_ShareCommitsAndEachRunsOnce()
    {
        var store = new CountingGroupStore(await CreateGroupStoreAsync());
        var executor = CreateExecutor(store);
        var prefix = "group-" + Guid.NewGuid().ToString("N");

        var results = await RunGroupAsync(executor, async (context, i) =>
        {
            await WriteEffectAsync(context.Transaction!, $"{prefix}-{i}");
            return i;
        });

        Assert.All(results, r => Assert.Equal(IdempotentOutcome.Executed, r.Outcome));
        Assert.Equal(Enumerable.Range(0, GroupSize), results.Select(r => r.Value));
        for (var i = 0; i < GroupSize; i++)
        {
            Assert.True(await EffectExistsAsync($"{prefix}-{i}"));
        }

        // The first operation held its turn until every other had queued: they shared one or two commits, not twelve.
        Assert.InRange(Volatile.Read(ref store.Batches), 1, 2);
    }

    [Fact]
    public async Task GroupCommit_OneOperationThrowsAnotherBreaksAConstraint_TheOthersCommitWithTheirOwnResults()
    {
        var store = new CountingGroupStore(await CreateGroupStoreAsync());
        var executor = CreateExecutor(store);
        var prefix = "group-" + Guid.NewGuid().ToString("N");

        var results = await RunGroupAsync(executor, async (context, i) =>
        {
            // Operations 4 and 5 write the same effect (a key the table refuses twice): whichever comes second breaks the
            // constraint. Operation 3 throws.
            await WriteEffectAsync(context.Transaction!, i is 4 or 5 ? $"{prefix}-shared" : $"{prefix}-{i}");
            return i == 3 ? throw new InvalidOperationException("operation 3 fails") : i;
        });

        Assert.IsType<InvalidOperationException>(results[3].Error);
        var broke = Assert.Single(results.Where((r, i) => i is 4 or 5 && r.Error is not null));
        Assert.IsAssignableFrom<DbException>(broke.Error);
        Assert.True(await EffectExistsAsync($"{prefix}-shared"));
        foreach (var i in Enumerable.Range(0, GroupSize).Where(i => i != 3 && results[i] != broke))
        {
            Assert.Equal(IdempotentOutcome.Executed, results[i].Outcome);
            Assert.Equal(i, results[i].Value);
            Assert.True(i is 4 or 5 || await EffectExistsAsync($"{prefix}-{i}"));
        }

        Assert.False(await EffectExistsAsync($"{prefix}-3"));
        Assert.InRange(Volatile.Read(ref store.Batches), 1, 2);

        // The failed ones left nothing behind, their keys included: a retry runs them.
        var retry = await executor.RunAsync(results[3].Operation, async (context, _) =>
        {
            await WriteEffectAsync(context.Transaction!, $"{prefix}-3");
            return 3;
        });
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.True(await EffectExistsAsync($"{prefix}-3"));
    }

    [Fact]
    public async Task GroupCommit_OneOperationBreaksADeferredConstraint_ItFailsAloneAndTheOthersCommit()
    {
        var store = new CountingGroupStore(await CreateGroupStoreAsync());
        var executor = CreateExecutor(store);
        var prefix = "group-" + Guid.NewGuid().ToString("N");

        var results = await RunGroupAsync(executor, async (context, i) =>
        {
            // Each refers to its effect before writing it, which only a constraint checked at the commit allows: so every
            // operation after the first also shows that the check of the ones before left the constraint deferred. Operation
            // 6 refers to an effect nobody writes: a constraint broken at the commit.
            await WriteDeferredReferenceAsync(context.Transaction!, $"{prefix}-{i}");
            if (i != 6)
            {
                await WriteEffectAsync(context.Transaction!, $"{prefix}-{i}");
            }

            return i;
        });

        // Operation 6 failed as its own commit would have failed alone: it ran, and the store refused what it wrote.
        Assert.Equal(IdempotentOutcome.StoreUnavailable, results[6].Outcome);
        Assert.IsAssignableFrom<DbException>(results[6].Execution.Exception);
        Assert.True(results[6].Execution.OperationRan);
        Assert.False(await DeferredReferenceExistsAsync($"{prefix}-6"));
        foreach (var i in Enumerable.Range(0, GroupSize).Where(i => i != 6))
        {
            Assert.Equal(IdempotentOutcome.Executed, results[i].Outcome);
            Assert.Equal(i, results[i].Value);
            Assert.True(await EffectExistsAsync($"{prefix}-{i}"));
            Assert.True(await DeferredReferenceExistsAsync($"{prefix}-{i}"));
        }

        // They shared their commits: the broken one did not fail its batch.
        Assert.InRange(Volatile.Read(ref store.Batches), 1, 2);

        // It left nothing behind, its key included: a retry that writes what it refers to runs it.
        var retry = await executor.RunAsync(results[6].Operation, async (context, _) =>
        {
            await WriteDeferredReferenceAsync(context.Transaction!, $"{prefix}-6");
            await WriteEffectAsync(context.Transaction!, $"{prefix}-6");
            return 6;
        });
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.True(await DeferredReferenceExistsAsync($"{prefix}-6"));
    }

    [Fact]
    public async Task GroupCommit_SameKeyTwiceInOneBatch_RunsOnce()
    {
        var store = new CountingGroupStore(await CreateGroupStoreAsync());
        var executor = CreateExecutor(store);
        var operation = NewTransactionalOperation() with { GroupCommit = true };
        var runs = 0;
        var queued = 0;

        var callers = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            Interlocked.Increment(ref queued);
            return await executor.RunAsync(operation, async (context, _) =>
            {
                Interlocked.Increment(ref runs);
                while (Volatile.Read(ref queued) < 2)
                {
                    await Task.Delay(5);
                }

                await Task.Delay(50);
                return 1;
            });
        })).ToArray();
        var results = await Task.WhenAll(callers);

        // The second found the key claimed in the batch's own transaction: refused, or (with the default wait) replayed.
        Assert.Equal(1, runs);
        Assert.Single(results, r => r.Outcome == IdempotentOutcome.Executed);
        Assert.Single(results, r => r.Outcome is IdempotentOutcome.InProgress or IdempotentOutcome.Replayed);
    }

    [Fact]
    public async Task GroupCommit_BatchCannotCommit_EveryOperationInItFailsAndEachRetryRunsOnce()
    {
        var store = new CountingGroupStore(await CreateGroupStoreAsync());
        var executor = CreateExecutor(store);
        var prefix = "group-" + Guid.NewGuid().ToString("N");

        var results = await RunGroupAsync(executor, async (context, i) =>
        {
            await WriteEffectAsync(context.Transaction!, $"{prefix}-{i}");
            if (i == GroupSize - 1)
            {
                // The last one ends the shared transaction under everyone's feet: nothing of the batch can commit.
                await using var command = context.Transaction!.Connection.CreateCommand();
                command.CommandText = "ROLLBACK";
                await command.ExecuteNonQueryAsync();
            }

            return i;
        });

        var failed = results.Where(r => r.Outcome != IdempotentOutcome.Executed).ToList();
        Assert.NotEmpty(failed);
        Assert.All(failed, r => Assert.True(r.Error is not null || r.Outcome == IdempotentOutcome.StoreUnavailable, $"{r.Outcome} {r.Error}"));
        foreach (var (result, i) in results.Select((r, i) => (r, i)))
        {
            // Whatever was answered as done is there; whatever failed left nothing.
            Assert.Equal(result.Outcome == IdempotentOutcome.Executed, await EffectExistsAsync($"{prefix}-{i}"));
        }

        foreach (var (result, i) in results.Select((r, i) => (r, i)).Where(p => p.r.Outcome != IdempotentOutcome.Executed))
        {
            var retry = await executor.RunAsync(result.Operation, async (context, _) =>
            {
                await WriteEffectAsync(context.Transaction!, $"{prefix}-{i}");
                return i;
            });
            Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
            Assert.True(await EffectExistsAsync($"{prefix}-{i}"));
        }
    }

    private async Task<IGroupCommitStore> CreateGroupStoreAsync()
        => await CreateTransactionalStoreAsync() as IGroupCommitStore ?? throw new InvalidOperationException("This store has no group commit.");

    private sealed record GroupResult(IdempotentOperation Operation, IdempotentOutcome? Outcome, int Value, Exception? Error, IdempotentExecution Execution = default);

    // GroupSize operations with keys of their own; the first holds its turn until all the others have called the executor,
    // so they queue up behind it and share its batch or the next.
    private static async Task<GroupResult[]> RunGroupAsync(IIdempotentExecutor executor, Func<IIdempotencyContext, int, Task<int>> run)
    {
        var called = 0;
        var operations = Enumerable.Range(0, GroupSize).Select(_ => NewTransactionalOperation() with { GroupCommit = true }).ToArray();
        var firstRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        async Task<GroupResult> Call(int i)
        {
            if (i > 0)
            {
                await firstRunning.Task;
            }

            Interlocked.Increment(ref called);
            try
            {
                var result = await executor.RunAsync(operations[i], async (context, _) =>
                {
                    if (i == 0)
                    {
                        firstRunning.SetResult();
                        while (Volatile.Read(ref called) < GroupSize)
                        {
                            await Task.Delay(5);
                        }

                        await Task.Delay(100);
                    }

                    return await run(context, i);
                });
                return new GroupResult(operations[i], result.Outcome, result.Value, null, result.Execution);
            }
            catch (Exception ex)
            {
                return new GroupResult(operations[i], null, 0, ex);
            }
        }

        return await Task.WhenAll(Enumerable.Range(0, GroupSize).Select(i => Task.Run(() => Call(i))));
    }

    /// <summary>Counts the batches (transactions) group commit opens.</summary>
    protected sealed class CountingGroupStore(IGroupCommitStore inner) : CountingStore(inner), IGroupCommitStore
    {
        public int Batches;

        public ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default)
            => inner.BeginTransactionalAsync(request, cancellationToken);

        public ValueTask<(DbConnection Connection, DbTransaction Transaction)> BeginGroupAsync(CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Batches);
            return inner.BeginGroupAsync(cancellationToken);
        }

        public ValueTask<ClaimResult> ClaimInTransactionAsync(DbConnection connection, DbTransaction transaction, ClaimRequest request, CancellationToken cancellationToken)
            => inner.ClaimInTransactionAsync(connection, transaction, request, cancellationToken);

        public ValueTask ReleaseTurnAsync(DbConnection connection, DbTransaction transaction, string savepoint, CancellationToken cancellationToken)
            => inner.ReleaseTurnAsync(connection, transaction, savepoint, cancellationToken);

        public ValueTask EndGroupAsync(DbConnection connection, DbTransaction transaction) => inner.EndGroupAsync(connection, transaction);

        public ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
            => inner.WriteResponseAsync(connection, transaction, lease, response, cancellationToken);

        public ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken)
            => inner.WriteRecoveryPointAsync(connection, transaction, lease, recoveryPoint, cancellationToken);

        public ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken)
            => inner.BeginLeasedTransactionAsync(connection, lease, cancellationToken);

        public ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease)
            => inner.EndTransactionAsync(connection, transaction, lease);

        public ValueTask CloseAsync(DbConnection connection) => inner.CloseAsync(connection);
    }
}
