namespace Idem.Storage;

/// <summary>
/// A store that can take many claims, or many completions, in one call: fewer round trips and fewer commits under load,
/// for store authors. With <see cref="IdempotencyOptions.Batching"/> on, the engine gathers the claims and completions of
/// concurrent standalone operations into batches and hands each batch to the store in one call; every operation is still
/// answered on its own, and every record is still owned by its own lease.
/// </summary>
public interface IBatchingStore : IIdempotencyStore
{
    /// <summary>
    /// Claims every key of <paramref name="requests"/> and writes each outcome at the same index of
    /// <paramref name="results"/>, exactly as <see cref="IIdempotencyStore.TryClaimAsync"/> would have answered it alone
    /// at some moment during the call. Two requests of a batch may name the same key: the first claims it, the second
    /// finds it in progress. When it throws, no request of the batch is claimed.
    /// </summary>
    ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default);

    /// <summary>
    /// Completes every lease of <paramref name="leases"/> with the response at the same index of
    /// <paramref name="responses"/> and writes each status at that index of <paramref name="results"/>, exactly as
    /// <see cref="IIdempotencyStore.CompleteAsync"/> would have alone. When it throws, none is completed.
    /// </summary>
    ValueTask CompleteManyAsync(
        ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default);
}
