using Idem.Storage;
using Microsoft.Extensions.Logging;

namespace Idem;

/// <summary>
/// The claimed key of one running operation, as the operation sees it (<see cref="IIdempotencyContext"/>): its recovery
/// points and, in transactional mode, its transaction. The executor makes one per claim.
/// </summary>
internal sealed class OperationScope : IIdempotencyContext
{
    private static readonly AsyncLocal<OperationScope?> Ambient = new();

    private readonly IIdempotencyStore? _store;
    private readonly IdempotencyLease? _lease;
    private readonly TransactionalClaim? _claim;
    private readonly TimeProvider? _time;
    private readonly ILogger? _logger;
    private readonly IdempotencyMetrics? _metrics;
    private string? _recoveryPoint;

    // Between two phases of a transactional operation no transaction holds the key, only the lease: this renews it.
    private LeaseKeeper? _keeper;

    /// <summary>A standalone operation: the store records recovery points.</summary>
    public OperationScope(string key, string fingerprint, IIdempotencyStore store, IdempotencyLease lease)
    {
        Key = key;
        Fingerprint = fingerprint;
        _store = store;
        _lease = lease;
        _recoveryPoint = lease.RecoveryPoint;
    }

    /// <summary>A transactional operation: its claim commits phases, and the lease is renewed while it is between two.</summary>
    public OperationScope(string key, string fingerprint, IIdempotencyStore store, TransactionalClaim claim, TimeProvider time, ILogger logger, IdempotencyMetrics metrics)
        : this(key, fingerprint, store, claim.Result.Lease!)
    {
        _claim = claim;
        _time = time;
        _logger = logger;
        _metrics = metrics;
    }

    /// <summary>An operation that runs without its key because the store is down and it fails open: phases record nothing.</summary>
    private OperationScope(string key, string fingerprint)
    {
        Key = key;
        Fingerprint = fingerprint;
    }

    /// <summary>The scope of the operation running on this flow, for the DI registrations of <see cref="IIdempotencyContext"/>.</summary>
    public static OperationScope? Current => Ambient.Value;

    public string Key { get; }

    public string Fingerprint { get; }

    public IIdempotencyTransaction? Transaction => _claim?.Transaction;

    public string? RecoveryPoint => _claim is null ? _recoveryPoint : _claim.RecoveryPoint;

    public static OperationScope Unguarded(string key, string fingerprint) => new(key, fingerprint);

    /// <summary>Makes this the current scope of the flow until the returned value is disposed.</summary>
    public AmbientScope Enter()
    {
        var previous = Ambient.Value;
        Ambient.Value = this;
        return new AmbientScope(previous);
    }

    public async ValueTask CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        if (_store is null)
        {
            _recoveryPoint = recoveryPoint;
            return;
        }

        var status = _claim is null
            ? await _store.SetRecoveryPointAsync(_lease!, recoveryPoint, cancellationToken).ConfigureAwait(false)
            : await _claim.CommitPhaseAsync(recoveryPoint, cancellationToken).ConfigureAwait(false);
        if (status == LeaseStatus.LeaseLost)
        {
            throw LeaseLost();
        }

        _recoveryPoint = recoveryPoint;
        if (_claim is not null)
        {
            // The operation now works outside any transaction (an outside call, typically) until it begins the next phase.
            await StopRenewingAsync().ConfigureAwait(false);
            _keeper = LeaseKeeper.Start(_store, _lease!, _time!, _logger!, _metrics);
        }
    }

    public async ValueTask BeginPhaseAsync(CancellationToken cancellationToken = default)
    {
        if (_store is null)
        {
            return;
        }

        await StopRenewingAsync().ConfigureAwait(false);
        var status = _claim is null
            ? await _store.RenewAsync(_lease!, cancellationToken).ConfigureAwait(false)
            : await _claim.BeginPhaseAsync(cancellationToken).ConfigureAwait(false);
        if (status == LeaseStatus.LeaseLost)
        {
            throw LeaseLost();
        }
    }

    /// <summary>Stops renewing the lease between phases, waiting for a renewal under way; the operation's end calls it too.</summary>
    public ValueTask StopRenewingAsync()
    {
        var keeper = _keeper;
        _keeper = null;
        return keeper?.DisposeAsync() ?? ValueTask.CompletedTask;
    }

    private IdempotencyLeaseLostException LeaseLost()
        => new($"The idempotency key '{Key}' was taken over by another caller after its lease ran out; that caller finishes the operation.");

    /// <summary>Restores the flow's previous scope.</summary>
    public readonly struct AmbientScope(OperationScope? previous) : IDisposable
    {
        public void Dispose() => Ambient.Value = previous;
    }
}
