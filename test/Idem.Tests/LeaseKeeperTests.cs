using System.Collections.Concurrent;
using System.Threading.Channels;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Tests;

public sealed class LeaseKeeperTests
{
    private static readonly TimeSpan LeaseDuration = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    private readonly FakeTimeProvider _time = new();
    private readonly RecordingStore _store;
    private readonly RecordingLogger _logger = new();

    public LeaseKeeperTests() => _store = new RecordingStore(new InMemoryIdempotencyStore(_time));

    [Fact]
    public async Task Start_EveryThirdOfLease_RenewsFromNow()
    {
        var lease = await ClaimAsync("k");
        await using var keeper = LeaseKeeper.Start(_store, lease, _time, _logger);

        for (var i = 0; i < 3; i++)
        {
            _time.Advance(LeaseDuration / 3);
            Assert.Equal(LeaseStatus.Ok, await _store.Renewals.Reader.ReadAsync().AsTask().WaitAsync(Wait));
            Assert.Equal(_time.GetUtcNow() + LeaseDuration, (await _store.GetAsync("k"))!.LeaseExpiresAt);
        }

        // A whole lease has passed since the claim, yet a duplicate still finds the key held.
        Assert.Equal(ClaimOutcome.InProgress, (await _store.TryClaimAsync(Request("k"))).Outcome);
        Assert.False(keeper.Lost);
        Assert.Empty(_logger.Entries);
    }

    [Fact]
    public async Task Start_LeaseTakenOver_ReportsLostLogsAndStops()
    {
        var lease = await ClaimAsync("k");
        _time.Advance(LeaseDuration + TimeSpan.FromSeconds(1));
        await ClaimAsync("k");
        await using var keeper = LeaseKeeper.Start(_store, lease, _time, _logger);

        _time.Advance(LeaseDuration / 3);

        Assert.Equal(LeaseStatus.LeaseLost, await _store.Renewals.Reader.ReadAsync().AsTask().WaitAsync(Wait));
        var entry = await _logger.Logged.Reader.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(101, entry.EventId.Id);
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.True(keeper.Lost);

        _time.Advance(LeaseDuration);
        await keeper.DisposeAsync();
        Assert.Equal(1, _store.RenewCalls);
    }

    [Fact]
    public async Task Start_RenewalFails_LogsAndRetriesAtNextTick()
    {
        var lease = await ClaimAsync("k");
        _store.FailNextRenewal = true;
        await using var keeper = LeaseKeeper.Start(_store, lease, _time, _logger);

        _time.Advance(LeaseDuration / 3);
        var entry = await _logger.Logged.Reader.ReadAsync().AsTask().WaitAsync(Wait);
        Assert.Equal(102, entry.EventId.Id);
        Assert.IsType<TimeoutException>(entry.Exception);

        _time.Advance(LeaseDuration / 3);
        Assert.Equal(LeaseStatus.Ok, await _store.Renewals.Reader.ReadAsync().AsTask().WaitAsync(Wait));
        Assert.False(keeper.Lost);
    }

    [Fact]
    public async Task DisposeAsync_StopsRenewing()
    {
        var lease = await ClaimAsync("k");
        var keeper = LeaseKeeper.Start(_store, lease, _time, _logger);

        await keeper.DisposeAsync();
        _time.Advance(LeaseDuration);

        Assert.Equal(0, _store.RenewCalls);
        Assert.Equal(ClaimOutcome.Claimed, (await _store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task ManyKeepers_OneClock_EachRenewedOnItsOwnPeriod_DisposedOnesNever()
    {
        var a = LeaseKeeper.Start(_store, await ClaimAsync("a"), _time, _logger);
        var b = LeaseKeeper.Start(_store, await ClaimAsync("b"), _time, _logger);
        var c = LeaseKeeper.Start(_store, await ClaimAsync("c"), _time, _logger);

        // Out of the middle of the list, then off its head.
        await b.DisposeAsync();
        _time.Advance(LeaseDuration / 3);
        Assert.Equal(["a", "c"], (await RenewedAsync(2)).Order());

        await c.DisposeAsync();
        _time.Advance(LeaseDuration / 3);
        Assert.Equal(["a"], await RenewedAsync(1));

        // A much shorter lease joins: the clock ticks often enough for it, and the others keep their own period.
        var shortLease = TimeSpan.FromSeconds(3);
        var d = LeaseKeeper.Start(_store, await ClaimAsync("d", shortLease), _time, _logger);
        _time.Advance(shortLease / 3);
        Assert.Equal(["d"], await RenewedAsync(1));
        Assert.Equal(_time.GetUtcNow() + shortLease, (await _store.GetAsync("d"))!.LeaseExpiresAt);

        await a.DisposeAsync();
        await d.DisposeAsync();
        _time.Advance(LeaseDuration);
        Assert.Equal(4, _store.RenewCalls);
        Assert.Empty(_logger.Entries);
    }

    [Fact]
    public async Task Ticker_ShortLeaseLeaves_TicksSlowDownAgainAndStopWhenNoKeeperIsLeft()
    {
        var clock = new TimerRecordingClock();
        var store = new RecordingStore(new InMemoryIdempotencyStore(clock));
        var longLease = TimeSpan.FromMinutes(12);
        var shortLease = TimeSpan.FromSeconds(12);
        async Task<LeaseKeeper> StartAsync(string key, TimeSpan lease)
        {
            var claim = await store.TryClaimAsync(Request(key, lease));
            return LeaseKeeper.Start(store, claim.Lease!, clock, _logger);
        }

        // Four ticks a renewal period (a third of the lease): every minute for the long lease, every second for the short.
        var a = await StartAsync("a", longLease);
        var b = await StartAsync("b", shortLease);
        Assert.Equal([TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1)], clock.Periods);

        await b.DisposeAsync();
        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TimeSpan.FromMinutes(1), clock.Periods[^1]);

        // The remaining keeper is still renewed on its own period.
        clock.Advance(longLease / 3);
        Assert.Equal(LeaseStatus.Ok, await store.Renewals.Reader.ReadAsync().AsTask().WaitAsync(Wait));
        Assert.Equal(["a"], store.RenewedKeys);

        await a.DisposeAsync();
        clock.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(Timeout.InfiniteTimeSpan, clock.Periods[^1]);

        var c = await StartAsync("c", longLease);
        Assert.Equal(TimeSpan.FromMinutes(1), clock.Periods[^1]);
        await c.DisposeAsync();
        Assert.Equal(1, store.RenewCalls);
        Assert.Empty(_logger.Entries);
    }

    private static ClaimRequest Request(string key, TimeSpan? lease = null) => new(key, "fp", lease ?? LeaseDuration, TimeSpan.FromHours(1));

    private async Task<string[]> RenewedAsync(int count)
    {
        var keys = new string[count];
        for (var i = 0; i < count; i++)
        {
            Assert.Equal(LeaseStatus.Ok, await _store.Renewals.Reader.ReadAsync().AsTask().WaitAsync(Wait));
            Assert.True(_store.RenewedKeys.TryDequeue(out var key));
            keys[i] = key;
        }

        return keys;
    }

    private async Task<IdempotencyLease> ClaimAsync(string key, TimeSpan? lease = null)
    {
        var result = await _store.TryClaimAsync(Request(key, lease));
        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        return result.Lease!;
    }

    /// <summary>A fake clock that records the period of every timer it makes and of every change to one.</summary>
    private sealed class TimerRecordingClock : FakeTimeProvider
    {
        private readonly ConcurrentQueue<TimeSpan> _periods = new();

        public IReadOnlyList<TimeSpan> Periods => [.. _periods];

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
        {
            _periods.Enqueue(period);
            return new Recording(base.CreateTimer(callback, state, dueTime, period), _periods);
        }

        private sealed class Recording(ITimer inner, ConcurrentQueue<TimeSpan> periods) : ITimer
        {
            public bool Change(TimeSpan dueTime, TimeSpan period)
            {
                periods.Enqueue(period);
                return inner.Change(dueTime, period);
            }

            public void Dispose() => inner.Dispose();

            public ValueTask DisposeAsync() => inner.DisposeAsync();
        }
    }

    /// <summary>Forwards to a real store and reports every renewal.</summary>
    private sealed class RecordingStore(IIdempotencyStore inner) : IIdempotencyStore
    {
        private int _renewCalls;

        public Channel<LeaseStatus> Renewals { get; } = Channel.CreateUnbounded<LeaseStatus>();

        public int RenewCalls => Volatile.Read(ref _renewCalls);

        public ConcurrentQueue<string> RenewedKeys { get; } = new();

        public bool FailNextRenewal { get; set; }

        public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => inner.TryClaimAsync(request, cancellationToken);

        public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default) => inner.CompleteAsync(lease, response, cancellationToken);

        public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.ReleaseAsync(lease, cancellationToken);

        public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

        public async ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref _renewCalls);
            if (FailNextRenewal)
            {
                FailNextRenewal = false;
                throw new TimeoutException("Store unreachable.");
            }

            var status = await inner.RenewAsync(lease, cancellationToken);
            RenewedKeys.Enqueue(lease.StoreKey);
            Renewals.Writer.TryWrite(status);
            return status;
        }

        public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => inner.GetAsync(storeKey, cancellationToken);

        public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);
    }

    private sealed record LogEntry(LogLevel Level, EventId EventId, Exception? Exception);

    private sealed class RecordingLogger : ILogger
    {
        public ConcurrentQueue<LogEntry> Entries { get; } = new();

        public Channel<LogEntry> Logged { get; } = Channel.CreateUnbounded<LogEntry>();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var entry = new LogEntry(logLevel, eventId, exception);
            Entries.Enqueue(entry);
            Logged.Writer.TryWrite(entry);
        }
    }
}
