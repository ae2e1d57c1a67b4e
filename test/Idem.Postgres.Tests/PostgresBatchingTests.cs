using Idem.Storage;
using Idem.Storage.ConformanceTests;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Postgres.Tests;

/// <summary>
/// Batched claims and completions on PostgreSQL beyond the conformance suite: two nodes batching at once, and a batch
/// that meets a key held by a running transaction.
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresBatchingTests(PostgresSchema schema) : IClassFixture<PostgresSchema>, IAsyncLifetime
{
    private const string Fingerprint = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    private readonly List<IAsyncDisposable> _disposables = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables))
        {
            await disposable.DisposeAsync();
        }
    }

    [Fact]
    public async Task TwoNodes_100ParallelRequestsForOneKey_RunOnceAndAllGetItsResult()
    {
        // Two nodes: a data source and an executor each, batching on, on one table. A request that finds the key running
        // waits for its result (its retries batched too).
        string? table = null;
        var stores = new[] { "a", "b" }.Select(node => schema.CreateStore(
            Track(schema.CreateDataSource(8, $"{schema.Name}-node-{node}")),
            o => o.TableName = table ??= o.TableName)).ToArray();
        var claims = 0;
        var executors = stores.Select(store => Executor(new CountingClaims(store, () => Interlocked.Increment(ref claims)))).ToArray();

        for (var round = 0; round < 5; round++)
        {
            const int Requests = 100;
            var operation = IdempotentOperation.Create("orders.create", Guid.NewGuid().ToString("N"), "order " + round);
            var runs = 0;
            var claimsBefore = Volatile.Read(ref claims);
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var callers = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
            {
                await go.Task;
                return await executors[i % 2].RunAsync(operation, async (_, _) =>
                {
                    Interlocked.Increment(ref runs);

                    // Held until every request's claim was answered: they all met the first one running.
                    while (Volatile.Read(ref claims) - claimsBefore < Requests)
                    {
                        await Task.Delay(5);
                    }

                    return "order-" + Guid.NewGuid().ToString("N");
                });
            })).ToArray();
            go.SetResult();
            var results = await Task.WhenAll(callers);

            Assert.Equal(1, runs);
            Assert.Single(results, r => r.Outcome == IdempotentOutcome.Executed);
            Assert.Equal(Requests - 1, results.Count(r => r.Outcome == IdempotentOutcome.Replayed));
            Assert.Single(results.Select(r => r.Value).Distinct());

            // The others found the key in progress and claimed again once they had waited: more claims than requests.
            Assert.True(Volatile.Read(ref claims) - claimsBefore > Requests, $"{Volatile.Read(ref claims) - claimsBefore} claims for {Requests} requests: nobody waited.");
        }
    }

    [Fact]
    public async Task ClaimMany_OneKeyHeldByARunningTransaction_OnlyThatKeyIsInProgress()
    {
        var store = schema.CreateStore(configure: o => o.LockTimeout = TimeSpan.FromMilliseconds(300));
        var held = Guid.NewGuid().ToString("N");
        await using var transaction = await store.BeginTransactionalAsync(Request(held));
        Assert.Equal(ClaimOutcome.Claimed, transaction.Result.Outcome);

        // The held key sits between two free ones: the batch waits on it, is rolled back, and its claims run alone.
        var (before, after) = ("0" + Guid.NewGuid().ToString("N"), "z" + Guid.NewGuid().ToString("N"));
        ClaimRequest[] requests = [Request(after), Request(held), Request(before)];
        var results = new ClaimResult[3];
        await ((IBatchingStore)store).ClaimManyAsync(requests, results);

        Assert.Equal(ClaimOutcome.Claimed, results[0].Outcome);
        Assert.Equal(ClaimOutcome.InProgress, results[1].Outcome);
        Assert.Equal(ClaimOutcome.Claimed, results[2].Outcome);
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(before))).Outcome);
    }

    private IIdempotentExecutor Executor(IIdempotencyStore store)
    {
        var services = new ServiceCollection();
        services.AddIdempotentExecutor(o =>
        {
            o.Batching.Enabled = true;
            o.ConcurrentRequests = ConcurrentRequestHandling.WaitThenReplay;
            o.ConcurrentWaitTimeout = TimeSpan.FromMinutes(2);
        });
        services.AddSingleton(store);
        var provider = services.BuildServiceProvider();
        _disposables.Add(provider);
        return provider.GetRequiredService<IIdempotentExecutor>();
    }

    private T Track<T>(T disposable)
        where T : IAsyncDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    private static ClaimRequest Request(string key) => new(key, Fingerprint, TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));

    /// <summary>Counts each claim once the store has answered it.</summary>
    private sealed class CountingClaims(IBatchingStore inner, Action claimed) : ForwardingBatchingStore(inner)
    {
        public override async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
        {
            try
            {
                return await Inner.TryClaimAsync(request, cancellationToken);
            }
            finally
            {
                claimed();
            }
        }

        public override async ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
        {
            try
            {
                await Inner.ClaimManyAsync(requests, results, cancellationToken);
            }
            finally
            {
                for (var i = 0; i < requests.Length; i++)
                {
                    claimed();
                }
            }
        }
    }
}
