using System.Net;
using System.Net.Http.Headers;
using Idem.Http.Tests.Infrastructure;

namespace Idem.Http.Tests;

/// <summary>Exponential backoff with full jitter, Retry-After and the deadline, on a fake clock with a fixed random.</summary>
public sealed class BackoffTests
{
    private static readonly TimeSpan Base = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan Max = TimeSpan.FromSeconds(10);

    private static TimeSpan Cap(int retry) => TimeSpan.FromTicks(Math.Min(Max.Ticks, Base.Ticks << retry));

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.25)]
    [InlineData(0.5)]
    [InlineData(0.999999)]
    [InlineData(1.0)]
    public void Backoff_AnyRandom_StaysWithinZeroAndTheCap(double random)
    {
        for (var retry = 0; retry < 70; retry++)
        {
            var delay = RetryRules.Backoff(retry, Base, Max, random);
            var cap = Cap(Math.Min(retry, 20));

            Assert.InRange(delay, TimeSpan.Zero, cap);
            Assert.Equal(TimeSpan.FromTicks((long)(random * cap.Ticks)), delay);
        }
    }

    [Fact]
    public void Backoff_CapDoublesUntilMaxDelay()
    {
        var caps = Enumerable.Range(0, 8).Select(n => RetryRules.Backoff(n, Base, Max, 1.0).TotalMilliseconds).ToArray();

        Assert.Equal([200, 400, 800, 1600, 3200, 6400, 10_000, 10_000], caps);
    }

    [Fact]
    public void Backoff_RandomOutsideUnitRange_IsClamped()
    {
        Assert.Equal(TimeSpan.Zero, RetryRules.Backoff(0, Base, Max, -3));
        Assert.Equal(Base, RetryRules.Backoff(0, Base, Max, 7));
    }

    [Fact]
    public async Task Send_RepeatedFailures_WaitsAJitteredDelayWithinEachCap()
    {
        const double random = 0.75;
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Statuses(503, 503, 503, 503, 503, 503, 503, 200);
        using var sut = Client.Create(inner, o =>
        {
            o.MaxAttempts = 8;
            o.BaseDelay = Base;
            o.MaxDelay = Max;
            o.OverallDeadline = TimeSpan.FromMinutes(5);
            o.Random = () => random;
        }, time);

        var send = sut.SendAsync(Client.Post());
        var waits = new List<TimeSpan>();
        for (var retry = 0; retry < 7; retry++)
        {
            var wait = await time.NextTimerAsync();
            Assert.InRange(wait, TimeSpan.Zero, Cap(retry));
            Assert.Equal(retry + 1, inner.Count);
            waits.Add(wait);
            time.Advance(wait);
        }

        using var response = await send;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(8, response.GetIdempotencyInfo()!.Attempts);
        Assert.Equal([150, 300, 600, 1200, 2400, 4800, 7500], waits.Select(w => w.TotalMilliseconds));
    }

    [Fact]
    public async Task Send_RetryAfterSecondsAboveBackoff_WaitsRetryAfter()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Responses(() => WithRetryAfter(HttpStatusCode.ServiceUnavailable, new RetryConditionHeaderValue(TimeSpan.FromSeconds(7))), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, o => o.Random = () => 0.999, time);

        var send = sut.SendAsync(Client.Post());

        Assert.Equal(TimeSpan.FromSeconds(7), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromSeconds(7) - TimeSpan.FromTicks(1));
        Assert.Equal(1, inner.Count);
        time.Advance(TimeSpan.FromTicks(1));
        using var response = await send;
        Assert.Equal(2, inner.Count);
    }

    [Fact]
    public async Task Send_RetryAfterHttpDate_WaitsUntilThatDate()
    {
        var time = new ObservedTimeProvider();
        var when = time.GetUtcNow() + TimeSpan.FromSeconds(30);
        var inner = ScriptedHandler.Responses(() => WithRetryAfter(HttpStatusCode.TooManyRequests, new RetryConditionHeaderValue(when)), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, configure: null, time);

        var send = sut.SendAsync(Client.Post());

        Assert.Equal(TimeSpan.FromSeconds(30), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromSeconds(30));
        using var response = await send;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Send_RetryAfterBelowBackoff_WaitsTheBackoff()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Responses(() => WithRetryAfter(HttpStatusCode.ServiceUnavailable, new RetryConditionHeaderValue(TimeSpan.Zero)), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, o => o.Random = () => 0.5, time);

        var send = sut.SendAsync(Client.Post());

        Assert.Equal(TimeSpan.FromMilliseconds(100), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromMilliseconds(100));
        using var response = await send;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Send_RetryAfterOn502_IsIgnored()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Responses(() => WithRetryAfter(HttpStatusCode.BadGateway, new RetryConditionHeaderValue(TimeSpan.FromSeconds(30))), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, o => o.Random = () => 0.5, time);

        var send = sut.SendAsync(Client.Post());

        Assert.Equal(TimeSpan.FromMilliseconds(100), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromMilliseconds(100));
        using var response = await send;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Send_RetryAfterBeyondDeadline_ReturnsTheResponseWithoutWaiting()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Responses(() => WithRetryAfter(HttpStatusCode.ServiceUnavailable, new RetryConditionHeaderValue(TimeSpan.FromSeconds(120))), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, o => o.OverallDeadline = TimeSpan.FromSeconds(60), time);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(120), response.Headers.RetryAfter?.Delta);
        Assert.Equal(1, inner.Count);
        Assert.Empty(time.DrainTimers());
    }

    [Fact]
    public async Task Send_BackoffWouldPassTheDeadline_StopsRetrying()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Statuses(503);
        using var sut = Client.Create(inner, o =>
        {
            o.MaxAttempts = 10;
            o.BaseDelay = TimeSpan.FromMilliseconds(400);
            o.OverallDeadline = TimeSpan.FromSeconds(1);
            o.Random = () => 1.0;
        }, time);

        var send = sut.SendAsync(Client.Post());
        Assert.Equal(TimeSpan.FromMilliseconds(400), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromMilliseconds(400));

        // The next wait (800 ms) would end at 1.2 s, past the 1 s deadline: the handler gives up instead.
        using var response = await send;
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(2, inner.Count);
        Assert.Equal(2, response.GetIdempotencyInfo()!.Attempts);
        Assert.Empty(time.DrainTimers());
    }

    [Fact]
    public async Task Send_DeadlinePassedDuringSlowAttempt_DoesNotRetry()
    {
        var time = new ObservedTimeProvider();
        var inner = new ScriptedHandler((_, _, _) =>
        {
            // The attempt itself takes past the deadline.
            time.Advance(TimeSpan.FromSeconds(61));
            return Task.FromResult(new HttpResponseMessage(HttpStatusCode.ServiceUnavailable));
        });
        using var sut = Client.Create(inner, configure: null, time);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(1, inner.Count);
    }

    private static HttpResponseMessage WithRetryAfter(HttpStatusCode status, RetryConditionHeaderValue retryAfter)
    {
        var response = new HttpResponseMessage(status);
        response.Headers.RetryAfter = retryAfter;
        return response;
    }
}
