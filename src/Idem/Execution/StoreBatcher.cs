using Idem.Storage;

namespace Idem;

/// <summary>
/// Batched claims and completions: standalone operations hand their claim (and later their result) to the batcher, which
/// sends what is waiting to the store in one call (<see cref="IBatchingStore"/>) and answers each operation with its own
/// outcome. One batch of claims and one of completions are in flight at a time; what comes meanwhile makes the next.
/// </summary>
internal sealed class StoreBatcher
{
    private readonly IBatchingStore _store;
    private readonly BatchingOptions _options;
    private readonly IdempotencyMetrics _metrics;
    private readonly WorkQueue<PendingClaim> _claims;
    private readonly WorkQueue<PendingCompletion> _completions;

    public StoreBatcher(IBatchingStore store, BatchingOptions options, IdempotencyMetrics metrics)
    {
        _store = store;
        _options = options;
        _metrics = metrics;
        _claims = new WorkQueue<PendingClaim>(ClaimBatchAsync);
        _completions = new WorkQueue<PendingCompletion>(CompleteBatchAsync);
    }

    /// <summary>
    /// Claims the key in the next batch. The claim is not cancelled once queued: a caller that gave up meanwhile gets its
    /// lease all the same, and gives it back as any operation cancelled after its claim does.
    /// </summary>
    public Task<ClaimResult> ClaimAsync(ClaimRequest request)
    {
        var pending = new PendingClaim(request);
        _claims.Enqueue(pending);
        return pending.Task;
    }

    /// <summary>Completes the lease with the response in the next batch.</summary>
    public Task<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response)
    {
        var pending = new PendingCompletion(lease, response);
        _completions.Enqueue(pending);
        return pending.Task;
    }

    private Task ClaimBatchAsync() => RunBatchAsync<PendingClaim, ClaimResult>(_claims, "claim", (batch, results) =>
    {
        var requests = new ClaimRequest[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            requests[i] = batch[i].Request;
        }

        return _store.ClaimManyAsync(requests, results, CancellationToken.None);
    });

    private Task CompleteBatchAsync() => RunBatchAsync<PendingCompletion, LeaseStatus>(_completions, "complete", (batch, results) =>
    {
        var leases = new IdempotencyLease[batch.Count];
        var responses = new IdempotencyResponse[batch.Count];
        for (var i = 0; i < batch.Count; i++)
        {
            (leases[i], responses[i]) = (batch[i].Lease, batch[i].Response);
        }

        return _store.CompleteManyAsync(leases, responses, results, CancellationToken.None);
    });

    // Takes one batch from the queue, makes the store call, and answers each operation with its own result; a call that
    // throws fails every operation of the batch, as its own call would have.
    private async Task RunBatchAsync<TPending, TResult>(WorkQueue<TPending> queue, string step, Func<List<TPending>, TResult[], ValueTask> call)
        where TPending : TaskCompletionSource<TResult>
    {
        var batch = await GatherAsync(queue).ConfigureAwait(false);
        if (batch.Count == 0)
        {
            return;
        }

        var results = new TResult[batch.Count];
        try
        {
            await call(batch, results).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            batch.ForEach(p => p.TrySetException(ex));
            return;
        }

        _metrics.Batched(step, batch.Count);
        for (var i = 0; i < batch.Count; i++)
        {
            batch[i].TrySetResult(results[i]);
        }
    }

    // What waits now, up to the largest batch, and what comes within the longest wait.
    private async ValueTask<List<T>> GatherAsync<T>(WorkQueue<T> queue)
        where T : class
    {
        var batch = new List<T>(Math.Min(_options.MaxBatchSize, 64));
        while (batch.Count < _options.MaxBatchSize && await queue.NextAsync(batch.Count == 0 ? TimeSpan.Zero : _options.MaxWait).ConfigureAwait(false) is { } item)
        {
            batch.Add(item);
        }

        return batch;
    }

    private sealed class PendingClaim(ClaimRequest request) : TaskCompletionSource<ClaimResult>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public ClaimRequest Request { get; } = request;
    }

    private sealed class PendingCompletion(IdempotencyLease lease, IdempotencyResponse response) : TaskCompletionSource<LeaseStatus>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public IdempotencyLease Lease { get; } = lease;

        public IdempotencyResponse Response { get; } = response;
    }
}
