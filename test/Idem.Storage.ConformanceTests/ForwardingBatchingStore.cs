namespace Idem.Storage.ConformanceTests;

/// <summary>A batching store that hands every call to another; tests override what they watch or change.</summary>
public class ForwardingBatchingStore(IBatchingStore inner) : IBatchingStore
{
    /// <summary>The store every call goes to.</summary>
    protected IBatchingStore Inner { get; } = inner;

    public virtual ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => Inner.TryClaimAsync(request, cancellationToken);

    public virtual ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
        => Inner.CompleteAsync(lease, response, cancellationToken);

    public virtual ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
        => Inner.ClaimManyAsync(requests, results, cancellationToken);

    public virtual ValueTask CompleteManyAsync(
        ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default)
        => Inner.CompleteManyAsync(leases, responses, results, cancellationToken);

    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Inner.ReleaseAsync(lease, cancellationToken);

    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
        => Inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Inner.RenewAsync(lease, cancellationToken);

    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => Inner.GetAsync(storeKey, cancellationToken);

    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
        => Inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);
}
