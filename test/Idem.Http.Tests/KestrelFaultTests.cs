using System.Net;
using System.Text.Json;
using Idem.Http.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.Http.Tests;

/// <summary>
/// End to end: the client handler against a real Kestrel protected by Idem, with faults injected between Idem and the
/// client. In every case the operation runs exactly once and the caller gets the first execution's response.
/// </summary>
public sealed class KestrelFaultTests
{
    private const string Body = """{"amount":2500,"currency":"EUR"}""";

    private int _calls;
    private int _requests;
    private int _firstStatus;
    private byte[]? _firstBody;
    private readonly Signal _held = new();

    private int Calls => Volatile.Read(ref _calls);

    private Task<IdemServer> CreateSut(Func<HttpContext, RequestDelegate, Task>? fault = null, Func<Task>? beforeHandler = null)
        => IdemServer.StartAsync(
            app => app.MapPost("/payments", async (HttpContext context) =>
            {
                if (beforeHandler is not null)
                {
                    await beforeHandler();
                }

                var call = Interlocked.Increment(ref _calls);
                using var request = await JsonDocument.ParseAsync(context.Request.Body);
                return Results.Json(new { id = Guid.NewGuid(), call, amount = request.RootElement.GetProperty("amount").GetInt32() }, statusCode: 201);
            }).RequireIdempotency(),
            fault);

    private bool IsFirstRequest() => Interlocked.Increment(ref _requests) == 1;

    [Fact]
    public async Task Post_ConnectionAbortedAfterHandlerRan_RetryGetsTheFirstResponseReplayed()
    {
        await using var server = await CreateSut(fault: async (context, next) =>
        {
            if (!IsFirstRequest())
            {
                await next(context);
                return;
            }

            (_firstStatus, _firstBody) = await IdemServer.RunHeldBackAsync(context, next);
            context.Abort();
        });
        using var client = server.CreateClient();

        using var response = await client.SendAsync(Client.Post(json: Body));

        Assert.Equal(1, Calls);
        Assert.Equal(201, _firstStatus);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(_firstBody, await response.Content.ReadAsByteArrayAsync());
        var info = response.GetIdempotencyInfo()!;
        Assert.Equal(2, info.Attempts);
        Assert.True(info.Replayed);
    }

    [Fact]
    public async Task Post_ResponseDelayedPastAttemptTimeout_RetryGetsTheFirstResponseReplayed()
    {
        var time = new ObservedTimeProvider();
        await using var server = await CreateSut(fault: async (context, next) =>
        {
            if (!IsFirstRequest())
            {
                await next(context);
                return;
            }

            (_firstStatus, _firstBody) = await IdemServer.RunHeldBackAsync(context, next);
            _held.Set();

            // Hold the response until the client gives up on this attempt and hangs up.
            await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        });
        using var client = server.CreateClient(o => o.PerAttemptTimeout = TimeSpan.FromSeconds(5), time);

        var send = client.SendAsync(Client.Post(json: Body));
        await _held.WaitAsync();
        time.Advance(TimeSpan.FromSeconds(5));
        using var response = await send.WaitAsync(Signal.Timeout);

        Assert.Equal(1, Calls);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(_firstBody, await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(new IdempotentCallInfo(response.GetIdempotencyInfo()!.Key, 2, Replayed: true), response.GetIdempotencyInfo());
    }

    [Fact]
    public async Task Post_503BurstBeforeReachingIdem_RunsOnceAndIsNotAReplay()
    {
        var refused = 0;
        await using var server = await CreateSut(fault: async (context, next) =>
        {
            if (Interlocked.Increment(ref refused) <= 3)
            {
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                return;
            }

            await next(context);
        });
        using var client = server.CreateClient();

        using var response = await client.SendAsync(Client.Post(json: Body));

        Assert.Equal(1, Calls);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, json.RootElement.GetProperty("call").GetInt32());
        Assert.Equal(2500, json.RootElement.GetProperty("amount").GetInt32());
        var info = response.GetIdempotencyInfo()!;
        Assert.Equal(4, info.Attempts);
        Assert.False(info.Replayed);
    }

    [Fact]
    public async Task Post_FirstAttemptStillRunning_WaitsOutThe409AndGetsTheFirstResponse()
    {
        var time = new ObservedTimeProvider();
        var started = new Signal();
        var release = new Signal();
        var firstFinished = new Signal();
        await using var server = await CreateSut(
            fault: async (context, next) =>
            {
                var first = IsFirstRequest();
                await next(context);
                if (first)
                {
                    firstFinished.Set();
                }
            },
            beforeHandler: async () =>
            {
                if (!started.IsSet)
                {
                    started.Set();
                    await release.WaitAsync();
                }
            });
        using var client = server.CreateClient(o => o.PerAttemptTimeout = TimeSpan.FromSeconds(5), time);

        var send = client.SendAsync(Client.Post(json: Body));

        // Attempt 1 reaches the handler, which blocks; the client gives up on it after 5 s.
        await started.WaitAsync();
        time.Advance(TimeSpan.FromSeconds(5));

        // Attempt 2 finds the key in progress: 409 with Retry-After: 1, so the client waits one second.
        await time.WaitForTimerAsync(TimeSpan.FromSeconds(1));
        release.Set();
        await firstFinished.WaitAsync();
        time.Advance(TimeSpan.FromSeconds(1));

        // Attempt 3 gets the first execution's response, replayed.
        using var response = await send.WaitAsync(Signal.Timeout);
        Assert.Equal(1, Calls);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        using var json = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, json.RootElement.GetProperty("call").GetInt32());
        var info = response.GetIdempotencyInfo()!;
        Assert.Equal(3, info.Attempts);
        Assert.True(info.Replayed);
    }

    [Fact]
    public async Task Post_TwoLogicalRequests_RunTwice()
    {
        await using var server = await CreateSut();
        using var client = server.CreateClient();

        using var first = await client.SendAsync(Client.Post(json: Body));
        using var second = await client.SendAsync(Client.Post(json: Body));

        Assert.Equal(2, Calls);
        Assert.False(first.GetIdempotencyInfo()!.Replayed);
        Assert.False(second.GetIdempotencyInfo()!.Replayed);
    }

    [Fact]
    public async Task Post_SameKeyAfterTheCallerRestarted_IsAnsweredByAReplay()
    {
        await using var server = await CreateSut();
        using var client = server.CreateClient();
        var key = IdempotencyKeys.New();

        using var first = await client.SendAsync(Client.Post(json: Body).SetIdempotencyKey(key));
        using var again = await client.SendAsync(Client.Post(json: Body).SetIdempotencyKey(key));

        Assert.Equal(1, Calls);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await again.Content.ReadAsByteArrayAsync());
        Assert.True(again.GetIdempotencyInfo()!.Replayed);
        Assert.Equal(1, again.GetIdempotencyInfo()!.Attempts);
    }
}
