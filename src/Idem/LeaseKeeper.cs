using Idem.Storage;
using Microsoft.Extensions.Logging;

namespace Idem;

/// <summary>
/// Renews a lease while its operation runs, every third of the lease duration, so a long handler never loses its key
/// to a duplicate. Disposing stops it. A renewal that finds the lease taken over is logged and counted, and renewing stops.
/// </summary>
/// <remarks>
/// Nearly every request finishes long before its first renewal, so starting and stopping must be cheap: one timer and
/// its callback, with no loop, task or cancellation source until a renewal actually runs.
/// </remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly IIdempotencyStore _store;
    private readonly IdempotencyLease _lease;
    private readonly ILogger _logger;
    private readonly ITimer _timer;
    private CancellationTokenSource? _stop;
    private Task? _renewal;
    private int _disposed;
    private volatile bool _lost;

    private LeaseKeeper(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger)
    {
        _store = store;
        _lease = lease;
        _logger = logger;
        var period = lease.LeaseDuration / 3;
        _timer = time.CreateTimer(static state => ((LeaseKeeper)state!).Tick(), this, period, period);
    }

    /// <summary>True once a renewal found the lease taken over.</summary>
    public bool Lost => _lost;

    public static LeaseKeeper Start(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger)
        => new(store, lease, time, logger);

    public async ValueTask DisposeAsync()
    {
        // `await using` plus an explicit early dispose is common: the second call must not touch disposed state.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Waits for a callback that is running, so no renewal starts after this.
        await _timer.DisposeAsync().ConfigureAwait(false);
        var renewal = Volatile.Read(ref _renewal);
        if (renewal is null)
        {
            return;
        }

        await _stop!.CancelAsync().ConfigureAwait(false);
        try
        {
            await renewal.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private void Tick()
    {
        // One renewal at a time; none after the lease was lost or the keeper disposed.
        if (_lost || Volatile.Read(ref _disposed) == 1 || _renewal is { IsCompleted: false })
        {
            return;
        }

        _stop ??= new CancellationTokenSource();
        Volatile.Write(ref _renewal, RenewAsync(_stop.Token));
    }

    private async Task RenewAsync(CancellationToken stop)
    {
        try
        {
            if (await _store.RenewAsync(_lease, stop).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                _lost = true;
                IdemTelemetry.LeaseLosses.Add(1);
                Log.RenewLost(_logger, _lease.StoreKey);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A failed renewal is retried at the next tick; the lease still has two thirds to run.
            Log.RenewFailed(_logger, _lease.StoreKey, ex);
        }
    }
}
