using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Idem.AspNetCore;

/// <summary>Per-request state of a claimed key: whether the handler started, and the handler's view of the key.</summary>
internal sealed class IdempotencyFeature : IIdempotencyContext
{
    private readonly IIdempotencyStore _store;
    private readonly IdempotencyLease _lease;
    private readonly TransactionalClaim? _claim;
    private readonly TimeProvider? _time;
    private readonly ILogger? _logger;
    private string? _recoveryPoint;

    // Between two phases of a transactional request no transaction holds the key, only the lease: this renews it.
    private LeaseKeeper? _keeper;

    /// <summary>A standalone request: the store records recovery points.</summary>
    public IdempotencyFeature(string key, IIdempotencyStore store, IdempotencyLease lease)
    {
        Key = key;
        _store = store;
        _lease = lease;
        _recoveryPoint = lease.RecoveryPoint;
    }

    /// <summary>A transactional request: its claim commits phases, and the lease is renewed while the handler is between two.</summary>
    public IdempotencyFeature(string key, IIdempotencyStore store, TransactionalClaim claim, TimeProvider time, ILogger logger)
        : this(key, store, claim.Result.Lease!)
    {
        _claim = claim;
        _time = time;
        _logger = logger;
    }

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
        if (_claim is not null)
        {
            // The handler now works outside any transaction (an outside call, typically) until it begins the next phase.
            await StopRenewingAsync().ConfigureAwait(false);
            _keeper = LeaseKeeper.Start(_store, _lease, _time!, _logger!);
        }
    }

    public async ValueTask BeginPhaseAsync(CancellationToken cancellationToken = default)
    {
        await StopRenewingAsync().ConfigureAwait(false);
        var status = _claim is null
            ? await _store.RenewAsync(_lease, cancellationToken).ConfigureAwait(false)
            : await _claim.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
        if (status == LeaseStatus.LeaseLost)
        {
            throw LeaseLost();
        }
    }

    /// <summary>Stops renewing the lease between phases, waiting for a renewal under way; the request's end calls it too.</summary>
    public ValueTask StopRenewingAsync()
    {
        var keeper = _keeper;
        _keeper = null;
        return keeper?.DisposeAsync() ?? ValueTask.CompletedTask;
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
