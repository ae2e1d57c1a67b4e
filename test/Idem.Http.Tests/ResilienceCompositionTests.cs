using System.Net;
using Idem.Http.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;

namespace Idem.Http.Tests;

/// <summary>
/// With <c>AddStandardResilienceHandler()</c> in either order, every request on the wire carries the same key and body.
/// The standard retry re-sends the very message it was given (it does not clone it for retries), so: Idem outside, it
/// re-sends Idem's attempt, key and all; Idem inside, Idem sees the caller's message again and finds its key on it.
/// </summary>
public sealed class ResilienceCompositionTests
{
    private static HttpClient CreateSut(ScriptedHandler primary, bool idemOutermost, Action<IdempotentClientOptions>? idem = null, Action<HttpStandardResilienceOptions>? resilience = null, TimeProvider? time = null)
    {
        var services = new ServiceCollection();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var builder = services.AddHttpClient("processor", c => c.BaseAddress = Client.BaseAddress);
        void AddIdem() => builder.AddIdempotency(o =>
        {
            o.Random = () => 0;
            idem?.Invoke(o);
        });
        void AddStandard() => builder.AddStandardResilienceHandler(o =>
        {
            // No waiting in tests; everything else is the standard pipeline (3 retries, timeouts, circuit breaker).
            o.Retry.Delay = TimeSpan.Zero;
            resilience?.Invoke(o);
        });

        if (idemOutermost)
        {
            AddIdem();
            AddStandard();
        }
        else
        {
            AddStandard();
            AddIdem();
        }

        builder.ConfigurePrimaryHttpMessageHandler(() => primary);
        var provider = services.BuildServiceProvider();
        return provider.GetRequiredService<IHttpClientFactory>().CreateClient("processor");
    }

    [Fact]
    public async Task Send_IdemOutermost_StandardRetriesKeepTheKeyAndBody()
    {
        // 500 is retried by the standard handler, not by Idem (RetryOn500 is off): every retry here is the standard one.
        var primary = ScriptedHandler.Statuses(500, 500, 201);
        using var sut = CreateSut(primary, idemOutermost: true);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, primary.Count);
        AssertOneKeyAndBody(primary);
        Assert.Equal(1, response.GetIdempotencyInfo()!.Attempts);
    }

    [Fact]
    public async Task Send_IdemInnermost_StandardRetriesKeepTheKeyAndBody()
    {
        var primary = ScriptedHandler.Statuses(500, 500, 201);
        using var sut = CreateSut(primary, idemOutermost: false);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, primary.Count);
        AssertOneKeyAndBody(primary);

        // Idem saw the same message three times and counted on from where it was.
        Assert.Equal(3, response.GetIdempotencyInfo()!.Attempts);
    }

    [Fact]
    public async Task Send_IdemInnermostWithStreamBody_StandardRetriesResendTheSnapshot()
    {
        var primary = ScriptedHandler.Statuses(500, 201);
        using var sut = CreateSut(primary, idemOutermost: false);
        var bytes = "{\"amount\":1}"u8.ToArray();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/charges") { Content = new StreamContent(new MemoryStream(bytes, writable: false)) };

        using var response = await sut.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.All(primary.Requests, r => Assert.Equal(bytes, r.Body));
        AssertOneKeyAndBody(primary);
    }

    [Fact]
    public async Task Send_RecommendedSetup_IdemRetriesKeyedRequestsAndTheStandardHandlerTheRest()
    {
        var primary = ScriptedHandler.Statuses(503, 503, 201);
        using var sut = CreateSut(primary, idemOutermost: true, resilience: o => o.Retry.DisableForUnsafeHttpMethods());

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, primary.Count);
        AssertOneKeyAndBody(primary);
        Assert.Equal(3, response.GetIdempotencyInfo()!.Attempts);
    }

    [Fact]
    public async Task Send_RecommendedSetup_GetIsRetriedByTheStandardHandlerWithoutKey()
    {
        var primary = ScriptedHandler.Statuses(503, 200);
        using var sut = CreateSut(primary, idemOutermost: true, resilience: o => o.Retry.DisableForUnsafeHttpMethods());

        using var response = await sut.GetAsync("/payments/1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, primary.Count);
        Assert.All(primary.Requests, r => Assert.Empty(r.Keys));
    }

    [Fact]
    public async Task Send_IdemOutermost_StandardAttemptTimeoutIsRetriedWithTheSameKey()
    {
        // Both the standard pipeline and Idem take their clock from the container.
        var time = new ObservedTimeProvider();
        var started = new Signal();
        var primary = new ScriptedHandler(async (n, _, ct) =>
        {
            if (n == 1)
            {
                started.Set();
                await Task.Delay(Timeout.Infinite, ct);
            }

            return new HttpResponseMessage(HttpStatusCode.Created);
        });
        using var sut = CreateSut(primary, idemOutermost: true, resilience: o =>
        {
            o.Retry.DisableForUnsafeHttpMethods();
            o.AttemptTimeout.Timeout = TimeSpan.FromSeconds(3);
        }, time: time);

        var send = sut.SendAsync(Client.Post());
        await started.WaitAsync();
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(3));
        time.Advance(TimeSpan.FromSeconds(3));

        // Polly's TimeoutRejectedException reaches Idem, which retries it as a timed-out attempt.
        using var response = await send.WaitAsync(Signal.Timeout);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, primary.Count);
        AssertOneKeyAndBody(primary);
    }

    [Fact]
    public async Task Send_BothRetryingOn503_AttemptsMultiply()
    {
        // Why the docs say to turn one of the two retries off for keyed requests: Idem's 3 attempts each get 1 + 3 standard ones.
        var primary = ScriptedHandler.Statuses(503);
        using var sut = CreateSut(primary, idemOutermost: true, idem: o => o.MaxAttempts = 3);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(12, primary.Count);
        AssertOneKeyAndBody(primary);
    }

    private static void AssertOneKeyAndBody(ScriptedHandler primary)
    {
        var first = primary.Requests[0];
        Assert.NotNull(first.Key);
        Assert.All(primary.Requests, r =>
        {
            Assert.Equal([first.Key], r.Keys);
            Assert.Equal(first.Body, r.Body);
        });
    }
}
