using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>BEHAVIOUR §5: what is stored, and when.</summary>
public sealed class IdempotencyStorageRuleTests
{
    private readonly CallCounter _calls = new();
    private readonly RecordingStore _store = new(new InMemoryIdempotencyStore());

    public sealed record Transfer(int Amount, string To);

    private Task<TestApp> CreateSut(Action<WebApplication> map, Action<IdempotencyOptions>? options = null, Action<IdempotencyHttpOptions>? http = null)
        => TestApp.StartAsync(map, options, store: b => b.UseStore(_store), http: http);

    [Fact]
    public async Task Post_Handler402_IsStoredAndReplayedAs402()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () => Results.Json(new { declined = true, call = _calls.Increment() }, statusCode: 402)).RequireIdempotency());

        var first = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(402, first.Status);
        Assert.Equal(402, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_Handler404_IsStoredAndReplayed()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () => Results.NotFound(new { call = _calls.Increment() })).RequireIdempotency());

        await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(404, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("""{"call":1}""", retry.Text);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_HandlerRedirects_IsStoredAndReplayedWithLocation()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () => Results.Redirect($"/payments/{_calls.Increment()}")).RequireIdempotency());

        var first = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(302, first.Status);
        Assert.Equal(302, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("/payments/1", retry.Header("Location"));
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_HandlerThrows_ReleasesKeySoRetryRuns()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () =>
        {
            var call = _calls.Increment();
            return call == 1 ? throw new InvalidOperationException("downstream failed") : Results.Ok(new { call });
        }).RequireIdempotency());

        var failed = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");
        var replay = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(500, failed.Status);
        Assert.Equal(200, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal("""{"call":2}""", retry.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal(retry.Body, replay.Body);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_Handler500_ReleasesKeyByDefault()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () =>
        {
            var call = _calls.Increment();
            return call == 1 ? Results.StatusCode(500) : Results.Ok(new { call });
        }).RequireIdempotency());

        var failed = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(500, failed.Status);
        Assert.Equal(200, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal(2, _calls.Count);
        Assert.Equal(1, _store.Released);
    }

    [Fact]
    public async Task Post_PipelineAbandonsTheKey_ErrorReachesClientAndRetryWhileLeaseRunsGets409()
    {
        var marked = false;
        await using var sut = await CreateSut(app => app.MapPost("/payments", (HttpContext context) =>
        {
            _calls.Increment();
            marked = context.AbandonIdempotencyKey();
            return Results.Json(new { outcome = "unknown" }, statusCode: 504);
        }).RequireIdempotency(p => p.Lease(TimeSpan.FromMinutes(1))));

        var failed = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.True(marked);
        Assert.Equal(504, failed.Status);
        Assert.Equal("""{"outcome":"unknown"}""", failed.Text);
        Assert.Equal(409, retry.Status);
        Assert.Equal(1, _calls.Count);
        Assert.Equal(0, _store.Released);
    }

    [Fact]
    public async Task Post_PipelineReleasesTheKeyOfA4xx_RetryRunsAgain()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", (HttpContext context) =>
        {
            var call = _calls.Increment();
            context.ReleaseIdempotencyKey();
            return Results.Json(new { call }, statusCode: 429);
        }).RequireIdempotency());

        await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(429, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal("""{"call":2}""", retry.Text);
        Assert.Equal(2, _store.Released);
    }

    [Fact]
    public async Task AbandonIdempotencyKey_RequestWithoutKey_ReturnsFalse()
    {
        bool? marked = null;
        await using var sut = await CreateSut(app => app.MapPost("/payments", (HttpContext context) =>
        {
            marked = context.AbandonIdempotencyKey();
            return Results.Ok();
        }).RequireIdempotency(p => p.Optional()));

        var response = await sut.Client.PostAsync("/payments", key: null);

        Assert.Equal(200, response.Status);
        Assert.False(marked);
    }

    [Fact]
    public async Task Post_Handler503WithStoreServerErrors_IsReplayed()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () => Results.Json(new { call = _calls.Increment() }, statusCode: 503))
            .RequireIdempotency(p => p.StoreServerErrors()));

        var first = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(503, first.Status);
        Assert.Equal(503, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ServerErrorsStoredInOptions_IsReplayed()
    {
        await using var sut = await CreateSut(
            app => app.MapPost("/payments", () => Results.Json(new { call = _calls.Increment() }, statusCode: 500)).RequireIdempotency(),
            o => o.ServerErrors = ServerErrorHandling.Store);

        await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(500, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_MalformedJsonRejectedByBinding_StoresNothingAndFixedRetryRuns()
    {
        await using var sut = await CreateSut(app => app.MapPost("/transfers", (Transfer transfer) => Results.Ok(new { call = _calls.Increment(), transfer.Amount }))
            .RequireIdempotency());

        var rejected = await sut.Client.PostAsync("/transfers", "k-1", """{"amount": 10, "to": """);
        var fixedRetry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount": 10, "to": "acc-2"}""");
        var replay = await sut.Client.PostAsync("/transfers", "k-1", """{"amount": 10, "to": "acc-2"}""");

        Assert.Equal(400, rejected.Status);
        Assert.False(rejected.Has("Idempotent-Replayed"));
        Assert.Equal(200, fixedRetry.Status);
        Assert.False(fixedRetry.IsReplayed);
        Assert.True(replay.IsReplayed);
        Assert.Equal(1, _calls.Count);
        Assert.Single(_store.Completed);
    }

    [Fact]
    public async Task Post_WrongJsonTypeRejectedByBinding_StoresNothing()
    {
        await using var sut = await CreateSut(app => app.MapPost("/transfers", (Transfer transfer) => Results.Ok(new { call = _calls.Increment() }))
            .RequireIdempotency());

        var rejected = await sut.Client.PostAsync("/transfers", "k-1", """{"amount": "ten", "to": "acc-2"}""");

        Assert.Equal(400, rejected.Status);
        Assert.Equal(0, _calls.Count);
        Assert.Empty(_store.Completed);
        Assert.Null(await _store.GetAsync(StoreKey.Create("anonymous", "POST", "/transfers", "k-1")));
    }

    [Fact]
    public async Task Post_ResponseLargerThanCaptureLimit_IsCompletedAndReplayedWithoutBody()
    {
        var large = new byte[4096];
        Array.Fill(large, (byte)'x');
        await using var sut = await CreateSut(
            app => app.MapPost("/exports", (HttpContext context) =>
            {
                _calls.Increment();
                context.Response.Headers.ETag = "\"export-1\"";
                return Results.Bytes(large, "application/octet-stream");
            }).RequireIdempotency(),
            http: o => o.MaxResponseBodyBytes = 1024);

        var first = await sut.Client.PostAsync("/exports", "k-1");
        var retry = await sut.Client.PostAsync("/exports", "k-1");

        Assert.Equal(200, first.Status);
        Assert.Equal(large, first.Body);
        Assert.False(first.Has("Idempotent-Body-Omitted"));
        Assert.Equal(200, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("true", retry.Header("Idempotent-Body-Omitted"));
        Assert.Equal("application/octet-stream", retry.Header("Content-Type"));
        Assert.Equal("\"export-1\"", retry.Header("ETag"));
        Assert.Empty(retry.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ResponseExactlyAtCaptureLimit_IsReplayedWithBody()
    {
        var body = new byte[1024];
        Array.Fill(body, (byte)'y');
        await using var sut = await CreateSut(
            app => app.MapPost("/exports", () =>
            {
                _calls.Increment();
                return Results.Bytes(body, "application/octet-stream");
            }).RequireIdempotency(),
            http: o => o.MaxResponseBodyBytes = 1024);

        await sut.Client.PostAsync("/exports", "k-1");
        var retry = await sut.Client.PostAsync("/exports", "k-1");

        Assert.True(retry.IsReplayed);
        Assert.False(retry.Has("Idempotent-Body-Omitted"));
        Assert.Equal(body, retry.Body);
    }

    [Fact]
    public async Task Post_ClientHangsUpWhileHandlerRuns_ResultIsStillStoredAndReplayed()
    {
        var started = new Signal();
        await using var sut = await CreateSut(app => app.MapPost("/payments", async (HttpContext context) =>
        {
            started.Set();
            // Carry on once the server has seen the client leave, ignoring RequestAborted as a handler with effects would.
            var aborted = new Signal();
            using (context.RequestAborted.Register(aborted.Set))
            {
                await aborted.WaitAsync();
            }

            return Results.Ok(new { call = _calls.Increment() });
        }).RequireIdempotency());

        using (var hangUp = new CancellationTokenSource())
        {
            var request = sut.Client.SendAsync(HttpMethod.Post, "/payments", "k-1", cancellationToken: hangUp.Token);
            await started.WaitAsync();
            await hangUp.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        }

        await _store.WhenAsync(s => s.Completed.Count + s.Released >= 1);
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(0, _store.Released);
        Assert.Equal(200, Assert.Single(_store.Completed).StatusCode);
        Assert.Equal(200, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("""{"call":1}""", retry.Text);
        Assert.Equal(1, _calls.Count);
    }
}
