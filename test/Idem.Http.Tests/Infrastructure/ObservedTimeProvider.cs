using System.Threading.Channels;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Http.Tests.Infrastructure;

/// <summary>
/// A <see cref="FakeTimeProvider"/> that reports every timer set on it (backoff waits, per-attempt timeouts, Polly's
/// timeouts, which make an idle timer and set it later), so a test waits for the code to start waiting, checks how long,
/// and then moves time on. No sleeping, no polling.
/// </summary>
internal sealed class ObservedTimeProvider : FakeTimeProvider
{
    private readonly Channel<TimeSpan> _timers = Channel.CreateUnbounded<TimeSpan>();

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ObservedTimer(base.CreateTimer(callback, state, dueTime, period), this);
        Report(dueTime);
        return timer;
    }

    /// <summary>The due time of the next timer set (waits for it).</summary>
    public async Task<TimeSpan> NextTimerAsync() => await _timers.Reader.ReadAsync().AsTask().WaitAsync(Signal.Timeout);

    /// <summary>Waits for a timer with this due time, skipping others (per-attempt timeouts, for instance).</summary>
    public async Task WaitForTimerAsync(TimeSpan dueTime)
    {
        while (await NextTimerAsync() != dueTime)
        {
        }
    }

    /// <summary>The due times of the timers set so far and not yet read.</summary>
    public List<TimeSpan> DrainTimers()
    {
        var list = new List<TimeSpan>();
        while (_timers.Reader.TryRead(out var dueTime))
        {
            list.Add(dueTime);
        }

        return list;
    }

    private void Report(TimeSpan dueTime)
    {
        if (dueTime != Timeout.InfiniteTimeSpan)
        {
            _timers.Writer.TryWrite(dueTime);
        }
    }

    private sealed class ObservedTimer(ITimer inner, ObservedTimeProvider owner) : ITimer
    {
        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            var changed = inner.Change(dueTime, period);
            owner.Report(dueTime);
            return changed;
        }

        public void Dispose() => inner.Dispose();

        public ValueTask DisposeAsync() => inner.DisposeAsync();
    }
}
