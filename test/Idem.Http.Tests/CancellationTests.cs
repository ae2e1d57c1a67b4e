using System.Net;
using System.Net.Http.Headers;
using Idem.Http.Tests.Infrastructure;

namespace Idem.Http.Tests;

/// <summary>The caller's cancellation is honoured at every wait and stops at once; per-attempt timeouts are retried.</summary>
public sealed class CancellationTests
{
    [Fact]
    public async Task Send_CancelledDuringBackoff_ThrowsPromptlyWithoutAnotherAttempt()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner, o => o.Random = () => 0.9, time);
        using var cancellation = new CancellationTokenSource();

        var send = sut.SendAsync(Client.Post(), cancellation.Token);
        await time.NextTimerAsync();
        await cancellation.CancelAsync();

        // The fake clock never moves: only the cancellation can end the wait.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Signal.Timeout));
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_CancelledDuringRetryAfterWait_ThrowsPromptlyWithoutAnotherAttempt()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Responses(
            () =>
            {
                var response = new HttpResponseMessage(HttpStatusCode.TooManyRequests);
                response.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.FromSeconds(30));
                return response;
            },
            () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = Client.Create(inner, configure: null, time);
        using var cancellation = new CancellationTokenSource();

        var send = sut.SendAsync(Client.Post(), cancellation.Token);
        Assert.Equal(TimeSpan.FromSeconds(30), await time.NextTimerAsync());
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Signal.Timeout));
        time.Advance(TimeSpan.FromMinutes(1));
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_AlreadyCancelled_SendsNothing()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => sut.SendAsync(Client.Post(), new CancellationToken(canceled: true)));

        Assert.Equal(0, inner.Count);
    }

    [Fact]
    public async Task Send_CallerCancelsWhileAttemptTimeoutPending_ThrowsOperationCanceledNotTimeout()
    {
        var time = new ObservedTimeProvider();
        var started = new Signal();
        var inner = new ScriptedHandler(async (_, _, ct) =>
        {
            started.Set();
            await Task.Delay(Timeout.Infinite, ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        using var sut = Client.Create(inner, o => o.PerAttemptTimeout = TimeSpan.FromSeconds(5), time);
        using var cancellation = new CancellationTokenSource();

        var send = sut.SendAsync(Client.Post(), cancellation.Token);
        await started.WaitAsync();
        await cancellation.CancelAsync();

        var error = await Record.ExceptionAsync(() => send.WaitAsync(Signal.Timeout));
        Assert.IsAssignableFrom<OperationCanceledException>(error);
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_AttemptTimesOut_RetriesWithTheSameKey()
    {
        var time = new ObservedTimeProvider();
        var started = new Signal();
        var inner = new ScriptedHandler(async (n, _, ct) =>
        {
            if (n == 1)
            {
                started.Set();
                await Task.Delay(Timeout.Infinite, ct);
            }

            return new HttpResponseMessage(HttpStatusCode.Created);
        });
        using var sut = Client.Create(inner, o => o.PerAttemptTimeout = TimeSpan.FromSeconds(5), time);

        var send = sut.SendAsync(Client.Post());
        await started.WaitAsync();
        time.Advance(TimeSpan.FromSeconds(5));

        using var response = await send.WaitAsync(Signal.Timeout);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, inner.Count);
        Assert.Equal(inner.Requests[0].Key, inner.Requests[1].Key);
    }

    [Fact]
    public async Task Send_EveryAttemptTimesOut_ThrowsTimeoutAfterMaxAttempts()
    {
        var time = new ObservedTimeProvider();
        var inner = new ScriptedHandler(async (_, _, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        using var sut = Client.Create(inner, o =>
        {
            o.MaxAttempts = 3;
            o.PerAttemptTimeout = TimeSpan.FromSeconds(2);
        }, time);

        var send = sut.SendAsync(Client.Post());
        for (var attempt = 1; attempt <= 3; attempt++)
        {
            await time.WaitForTimerAsync(TimeSpan.FromSeconds(2));
            time.Advance(TimeSpan.FromSeconds(2));
        }

        var error = await Assert.ThrowsAsync<TimeoutException>(() => send.WaitAsync(Signal.Timeout));
        Assert.IsAssignableFrom<OperationCanceledException>(error.InnerException);
        Assert.Equal(3, inner.Count);
    }
}
