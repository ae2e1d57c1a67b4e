using Idem.Storage;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore;

/// <summary>Per-request state of a claimed key: whether the handler started, and the handler's view of the key.</summary>
internal sealed class IdempotencyFeature : IIdempotencyContext
{
    private readonly IIdempotencyStore _store;
    private readonly IdempotencyLease _lease;
    private readonly TransactionalClaim? _claim;
    private string? _recoveryPoint;

    /// <summary>A standalone request: the store records recovery points.</summary>
    public IdempotencyFeature(string key, IIdempotencyStore store, IdempotencyLease lease)
    {
        Key = key;
        _store = store;
        _lease = lease;
        _recoveryPoint = lease.RecoveryPoint;
    }

    /// <summary>A transactional request: its claim commits phases.</summary>
    public IdempotencyFeature(string key, IIdempotencyStore store, TransactionalClaim claim)
        : this(key, store, claim.Result.Lease!)
        => _claim = claim;

    public bool HandlerRan { get; set; }

    public string Key { get; }

    public string? RecoveryPoint => _claim is null ? _recoveryPoint : _claim.RecoveryPoint;

    public async ValueTask CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        var status = _claim is null
            ? await _store.SetRecoveryPointAsync(_lease, recoveryPoint, cancellationToken).ConfigureAwait(false)
            : await _claim.CommitPhaseAsync(recoveryPoint, cancellationToken).ConfigureAwait(false);
        if (status == LeaseStatus.LeaseLost)
        {
            throw LeaseLost();
        }

        _recoveryPoint = recoveryPoint;
    }

    public async ValueTask BeginPhaseAsync(CancellationToken cancellationToken = default)
    {
        var status = _claim is null
            ? await _store.RenewAsync(_lease, cancellationToken).ConfigureAwait(false)
            : await _claim.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
        if (status == LeaseStatus.LeaseLost)
        {
            throw LeaseLost();
        }
    }

    public static void MarkHandlerRan(HttpContext context)
    {
        if (context.Features.Get<IdempotencyFeature>() is { } feature)
        {
            feature.HandlerRan = true;
        }
    }

    private IdempotencyLeaseLostException LeaseLost()
        => new($"The idempotency key '{Key}' was taken over by another request after its lease ran out; that request finishes the operation.");
}

/// <summary>
/// Scoped: the transaction and the key of the current idempotent request, which <see cref="IIdempotencyTransaction"/> and
/// <see cref="IIdempotencyContext"/> resolve to.
/// </summary>
internal sealed class IdempotencyTransactionAccessor
{
    public IIdempotencyTransaction? Current { get; set; }

    public IIdempotencyContext? Context { get; set; }
}
