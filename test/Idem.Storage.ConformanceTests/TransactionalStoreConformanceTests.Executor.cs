using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>The executor's transactional flow on this store: the claim, the operation's writes and its value commit together.</summary>
public abstract partial class TransactionalStoreConformanceTests
{
    private static IdempotentOperation NewTransactionalOperation()
        => NewOperation() with { Transactional = true };

    [Fact]
    public async Task RunAsync_TransactionalParallelCallersOfOneKey_OneEffectAndTheRestReplay()
    {
        var store = new CountingTransactionalStore(await CreateTransactionalStoreAsync());
        var executor = CreateExecutor(store, o =>
        {
            o.ConcurrentRequests = ConcurrentRequestHandling.WaitThenReplay;
            o.ConcurrentWaitTimeout = TimeSpan.FromMinutes(2);
        });
        var operation = NewTransactionalOperation();
        var effect = "effect-" + Guid.NewGuid().ToString("N");
        var runs = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var callers = Enumerable.Range(0, Racers).Select(_ => Task.Run(async () =>
        {
            await go.Task;
            return await executor.RunAsync(operation, async (context, _) =>
            {
                var run = Interlocked.Increment(ref runs);
                await WriteEffectAsync(context.Transaction!, effect + "-" + run);
                while (Volatile.Read(ref store.Claims) < Racers)
                {
                    await Task.Delay(5);
                }

                return run;
            });
        })).ToArray();
        go.SetResult();
        var results = await Task.WhenAll(callers);

        Assert.Equal(1, runs);
        Assert.True(await EffectExistsAsync(effect + "-1"));
        Assert.Single(results, r => r.Outcome == IdempotentOutcome.Executed);
        Assert.All(results, r => Assert.Equal(1, r.Value));
    }

    [Fact]
    public async Task RunAsync_TransactionalOperationThrows_RollsBackItsWritesAndTheClaim()
    {
        var executor = CreateExecutor(await CreateTransactionalStoreAsync());
        var operation = NewTransactionalOperation();
        var effect = "effect-" + Guid.NewGuid().ToString("N");

        await Assert.ThrowsAsync<TimeoutException>(async () => await executor.RunAsync<int>(operation, async (context, _) =>
        {
            await WriteEffectAsync(context.Transaction!, effect);
            throw new TimeoutException("gave up");
        }));
        var retry = await executor.RunAsync(operation, async (context, _) =>
        {
            await WriteEffectAsync(context.Transaction!, effect);
            return 2;
        });

        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.True(await EffectExistsAsync(effect));
    }

    [Fact]
    public async Task RunAsync_TransactionalPhaseThenFailure_KeepsThePhaseAndRetryResumes()
    {
        var executor = CreateExecutor(await CreateTransactionalStoreAsync());
        var operation = NewTransactionalOperation();
        var created = "created-" + Guid.NewGuid().ToString("N");
        var settled = "settled-" + Guid.NewGuid().ToString("N");

        async ValueTask<string> Run(IIdempotencyContext context, CancellationToken ct, bool processorUp)
        {
            if (context.RecoveryPoint is null)
            {
                await WriteEffectAsync(context.Transaction!, created);
                await context.CommitPhaseAsync("created", ct);
            }

            if (!processorUp)
            {
                throw new TimeoutException("the processor did not answer");
            }

            await context.BeginPhaseAsync(ct);
            await WriteEffectAsync(context.Transaction!, settled);
            return "settled";
        }

        await Assert.ThrowsAsync<TimeoutException>(async () => await executor.RunAsync(operation, (c, ct) => Run(c, ct, processorUp: false)));
        var createdKept = await EffectExistsAsync(created);
        var retry = await executor.RunAsync(operation, (c, ct) => Run(c, ct, processorUp: true));

        Assert.True(createdKept);
        Assert.Equal(IdempotentOutcome.Executed, retry.Outcome);
        Assert.True(await EffectExistsAsync(settled));
    }
}
