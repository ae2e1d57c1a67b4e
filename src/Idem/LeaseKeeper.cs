using Idem.Storage;
using Microsoft.Extensions.Logging;

namespace Idem;

/// <summary>
/// Renews a lease while its operation runs, every third of the lease duration, so a long handler never loses its key
/// to a duplicate. Disposing stops it. A renewal that finds the lease taken over is logged and counted.
/// </summary>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PeriodicTimer _timer;
    private readonly Task _loop;
    private int _disposed;

    private LeaseKeeper(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger)
    {
        _timer = new PeriodicTimer(lease.LeaseDuration / 3, time);
        _loop = RunAsync(store, lease, logger, _stop.Token);
    }

    /// <summary>True once a renewal found the lease taken over.</summary>
    public bool Lost { get; private set; }

    public static LeaseKeeper Start(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger)
        => new(store, lease, time, logger);

    public async ValueTask DisposeAsync()
    {
        // `await using` plus an explicit early dispose is common: the second call must not touch the disposed source.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        // Disposing the timer ends the pending wait with false rather than an exception. Nearly every request finishes
        // between two ticks, and throwing and catching OperationCanceledException there cost more than the rest of a
        // first execution. The token still cancels a renewal that is in flight.
        _timer.Dispose();
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
    }

    private async Task RunAsync(IIdempotencyStore store, IdempotencyLease lease, ILogger logger, CancellationToken stop)
    {
        using var timer = _timer;
        while (await timer.WaitForNextTickAsync(CancellationToken.None).ConfigureAwait(false))
        {
            try
            {
                if (await store.RenewAsync(lease, stop).ConfigureAwait(false) == LeaseStatus.LeaseLost)
                {
                    Lost = true;
                    IdemTelemetry.LeaseLosses.Add(1);
                    Log.RenewLost(logger, lease.StoreKey);
                    return;
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // A failed renewal is retried at the next tick; the lease still has two thirds to run.
                Log.RenewFailed(logger, lease.StoreKey, ex);
            }
        }
    }
}
