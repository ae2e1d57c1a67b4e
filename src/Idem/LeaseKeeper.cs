using System.Runtime.CompilerServices;
using Idem.Storage;
using Microsoft.Extensions.Logging;

namespace Idem;

/// <summary>
/// Renews a lease while its operation runs, every third of the lease duration, so a long handler never loses its key
/// to a duplicate. Disposing stops it. A renewal that finds the lease taken over is logged and counted, and renewing stops.
/// </summary>
/// <remarks>
/// Nearly every request finishes long before its first renewal, so starting and stopping must be cheap: a keeper joins
/// one list that a single timer per clock walks, rather than starting a timer of its own (a timer is two objects and a
/// trip through the runtime's timer queue, per request). Nothing else is made until a renewal is due.
/// </remarks>
internal sealed class LeaseKeeper : IAsyncDisposable
{
    private readonly IIdempotencyStore _store;
    private readonly IdempotencyLease _lease;
    private readonly ILogger _logger;
    private readonly IdempotencyMetrics _metrics;
    private readonly Ticker _ticker;
    private readonly long _period;

    // Guarded by the ticker's lock.
    private LeaseKeeper? _previous;
    private LeaseKeeper? _next;
    private long _lastRenewal;
    private bool _disposed;
    private Task? _renewal;
    private CancellationTokenSource? _stop;

    private volatile bool _lost;

    private LeaseKeeper(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger, IdempotencyMetrics metrics)
    {
        _store = store;
        _lease = lease;
        _logger = logger;
        _metrics = metrics;
        _ticker = Ticker.For(time);
        _period = Math.Max(1, (long)((lease.LeaseDuration / 3).TotalSeconds * time.TimestampFrequency));
    }

    /// <summary>True once a renewal found the lease taken over.</summary>
    public bool Lost => _lost;

    public static LeaseKeeper Start(IIdempotencyStore store, IdempotencyLease lease, TimeProvider time, ILogger logger, IdempotencyMetrics? metrics = null)
    {
        var keeper = new LeaseKeeper(store, lease, time, logger, metrics ?? IdempotencyMetrics.Shared);
        keeper._ticker.Add(keeper);
        return keeper;
    }

    public ValueTask DisposeAsync()
    {
        // `await using` plus an explicit early dispose is common: the second call must not touch disposed state.
        var renewal = _ticker.Remove(this);
        return renewal is null || renewal.IsCompleted ? ValueTask.CompletedTask : StopRenewalAsync(renewal);
    }

    private async ValueTask StopRenewalAsync(Task renewal)
    {
        // No renewal starts after Remove; the one running is cancelled and waited for.
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

    private async Task RenewAsync(CancellationToken stop)
    {
        try
        {
            if (await _store.RenewAsync(_lease, stop).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                _lost = true;
                _metrics.LeaseLost();
                Log.RenewLost(_logger, _lease.StoreKey);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A failed renewal is retried at the next period; the lease still has two thirds to run.
            Log.RenewFailed(_logger, _lease.StoreKey, ex);
        }
    }

    /// <summary>
    /// The keepers of one clock, in a list behind a lock, and one timer that walks it and starts the renewals that are
    /// due. The timer ticks four times a period of the shortest lease in the list, so a renewal comes between a third and
    /// five twelfths of the way through its lease. A shorter lease joining speeds it up at once; each tick sets it to the
    /// keepers still there, so it slows down again once they left, and stops when none is left.
    /// </summary>
    private sealed class Ticker
    {
        private static readonly Ticker System = new(TimeProvider.System);
        private static readonly ConditionalWeakTable<TimeProvider, Ticker> Others = [];

        private readonly Lock _gate = new();
        private readonly TimeProvider _time;
        private LeaseKeeper? _head;
        private ITimer? _timer;
        private TimeSpan _interval = TimeSpan.MaxValue;

        private Ticker(TimeProvider time) => _time = time;

        public static Ticker For(TimeProvider time)
            => ReferenceEquals(time, TimeProvider.System) ? System : Others.GetValue(time, static t => new Ticker(t));

        public void Add(LeaseKeeper keeper)
        {
            keeper._lastRenewal = _time.GetTimestamp();
            var interval = Interval(keeper._period);
            lock (_gate)
            {
                keeper._next = _head;
                if (_head is not null)
                {
                    _head._previous = keeper;
                }

                _head = keeper;
                if (interval < _interval)
                {
                    _interval = interval;
                    if (_timer is null)
                    {
                        // Not the first request's execution context: renewals belong to no request in particular.
                        using (ExecutionContext.SuppressFlow())
                        {
                            _timer = _time.CreateTimer(static state => ((Ticker)state!).Tick(), this, _interval, _interval);
                        }
                    }
                    else
                    {
                        _timer.Change(_interval, _interval);
                    }
                }
            }
        }

        // Returns the renewal running when the keeper left, if any.
        public Task? Remove(LeaseKeeper keeper)
        {
            lock (_gate)
            {
                if (keeper._disposed)
                {
                    return null;
                }

                keeper._disposed = true;
                if (keeper._previous is null)
                {
                    _head = keeper._next;
                }
                else
                {
                    keeper._previous._next = keeper._next;
                }

                if (keeper._next is not null)
                {
                    keeper._next._previous = keeper._previous;
                }

                keeper._previous = keeper._next = null;
                return keeper._renewal;
            }
        }

        private void Tick()
        {
            var now = _time.GetTimestamp();
            lock (_gate)
            {
                var shortest = long.MaxValue;
                for (var keeper = _head; keeper is not null; keeper = keeper._next)
                {
                    shortest = Math.Min(shortest, keeper._period);

                    // One renewal at a time; none after the lease was lost.
                    if (keeper._lost || now - keeper._lastRenewal < keeper._period || keeper._renewal is { IsCompleted: false })
                    {
                        continue;
                    }

                    var due = keeper;
                    due._lastRenewal = now;
                    due._stop ??= new CancellationTokenSource();
                    var token = due._stop.Token;

                    // Started on the pool, so a store's synchronous work never runs under this lock.
                    due._renewal = Task.Run(() => due.RenewAsync(token), CancellationToken.None);
                }

                // Follow the keepers there are now; the next Add starts a stopped timer again.
                var interval = shortest == long.MaxValue ? TimeSpan.MaxValue : Interval(shortest);
                if (interval != _interval)
                {
                    _interval = interval;
                    if (interval == TimeSpan.MaxValue)
                    {
                        _timer!.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
                    }
                    else
                    {
                        _timer!.Change(interval, interval);
                    }
                }
            }
        }

        // A quarter of a renewal period, from the keeper's own period in timestamp units, so that Add and Tick agree.
        private TimeSpan Interval(long period)
        {
            var interval = _time.GetElapsedTime(0, period) / 4;
            return interval <= TimeSpan.Zero ? TimeSpan.FromTicks(1) : interval;
        }
    }
}
