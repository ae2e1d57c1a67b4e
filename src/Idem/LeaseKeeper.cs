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
    private readonly Task _loop;
    private int _disposed;

    private LeaseKeeper(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger)
        => _loop = RunAsync(store, lease, time, logger, _stop.Token);

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

    private async Task RunAsync(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger, CancellationToken stop)
    {
        var period = lease.LeaseDuration / 3;
        using var timer = new PeriodicTimer(period, time);
        while (await timer.WaitForNextTickAsync(stop).ConfigureAwait(false))
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
