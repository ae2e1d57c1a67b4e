using Idem.Storage;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Wraps a transactional store and notes, at the moment each claim commits, whether the response had already started
/// and what the test's probe saw (for instance whether the handler's row was visible from another connection). With
/// <see cref="FailRenewals"/> set, every renewal fails, as for a node that has lost its way to the store.
/// </summary>
internal sealed class CommitObservingStore(ITransactionalIdempotencyStore inner, IHttpContextAccessor? accessor = null, Func<object?>? probe = null) : ITransactionalIdempotencyStore
{
    private readonly Lock _gate = new();
    private readonly List<(bool ResponseStarted, object? Probe)> _commits = [];

    public IReadOnlyList<(bool ResponseStarted, object? Probe)> Commits
    {
        get
        {
            lock (_gate)
            {
                return [.. _commits];
            }
        }
    }

    public async ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default)
        => new ObservedClaim(await inner.BeginTransactionalAsync(request, cancellationToken), this);

    public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => inner.TryClaimAsync(request, cancellationToken);

    public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default) => inner.CompleteAsync(lease, response, cancellationToken);

    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.ReleaseAsync(lease, cancellationToken);

    public bool FailRenewals { get; init; }

    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
        => FailRenewals ? ValueTask.FromException<LeaseStatus>(new TimeoutException("The store could not be reached.")) : inner.RenewAsync(lease, cancellationToken);

    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => inner.GetAsync(storeKey, cancellationToken);

    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);

    private void OnCommitting()
    {
        if (accessor is null)
        {
            return;
        }

        var started = accessor.HttpContext?.Response.HasStarted ?? throw new InvalidOperationException("No HttpContext at commit.");
        var seen = probe?.Invoke();
        lock (_gate)
        {
            _commits.Add((started, seen));
        }
    }

    private sealed class ObservedClaim(TransactionalClaim claim, CommitObservingStore owner) : TransactionalClaim(claim.Result)
    {
        public override IIdempotencyTransaction? Transaction => claim.Transaction;

        public override string? RecoveryPoint => claim.RecoveryPoint;

        public override ValueTask<LeaseStatus> CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default) => claim.CommitPhaseAsync(recoveryPoint, cancellationToken);

        public override ValueTask<LeaseStatus> BeginPhaseAsync(CancellationToken cancellationToken = default) => claim.BeginPhaseAsync(cancellationToken);

        public override ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default)
        {
            owner.OnCommitting();
            return claim.CommitAsync(response, cancellationToken);
        }

        public override ValueTask RollbackAsync(CancellationToken cancellationToken = default) => claim.RollbackAsync(cancellationToken);

        protected override ValueTask DisposeAsyncCore() => claim.DisposeAsync();
    }
}
