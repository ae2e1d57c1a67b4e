using System.Text;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// A small first response is held until its record is settled and then sent in one piece with a Content-Length, as
/// its replays are; a large or streamed one passes through as it is written.
/// </summary>
public sealed class IdempotencyResponseHoldTests
{
    private readonly GatedStore _store = new(new InMemoryIdempotencyStore());

    private Task<TestApp> CreateSut(Action<WebApplication> map, Action<IdempotencyOptions>? options = null, Action<IdempotencyHttpOptions>? http = null)
        => TestApp.StartAsync(map, options, store: b => b.UseStore(_store), http: http);

    [Fact]
    public async Task Post_SmallJsonResponse_IsSentWithContentLengthLikeItsReplay()
    {
        await using var sut = await CreateSut(app => app.MapPost("/payments", () => Results.Created("/payments/1", new { id = 1, status = "paid" })).RequireIdempotency());

        using var client = sut.CreateClient();
        using var first = await client.SendAsync(Request("/payments", "k-1"));
        using var replay = await client.SendAsync(Request("/payments", "k-1"));
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        var replayBody = await replay.Content.ReadAsByteArrayAsync();

        Assert.Equal(201, (int)first.StatusCode);
        Assert.NotEqual(true, first.Headers.TransferEncodingChunked);
        Assert.Equal(firstBody.Length, first.Content.Headers.ContentLength);
        Assert.Equal("""{"id":1,"status":"paid"}""", Encoding.UTF8.GetString(firstBody));
        Assert.Equal(first.Content.Headers.ContentLength, replay.Content.Headers.ContentLength);
        Assert.Equal(firstBody, replayBody);
        Assert.True(replay.Headers.Contains("Idempotent-Replayed"));
    }

    [Fact]
    public async Task Post_HandlerFlushesWithLength_ClientGetsResponseOnlyOnceRecordIsCompleted()
    {
        // The handler frames its body itself and flushes it: passed straight through, the client would have the whole
        // response while the record is still being written, and a retry at that moment would get 409 instead of a replay.
        await using var sut = await CreateSut(app => app.MapPost("/payments", async (HttpContext context) =>
        {
            context.Response.ContentLength = 2;
            await context.Response.Body.WriteAsync("ok"u8.ToArray());
            await context.Response.Body.FlushAsync();
        }).RequireIdempotency());
        _store.HoldCompletes();

        var first = sut.Client.PostAsync("/payments", "k-1");
        await _store.CompleteEntered.WaitAsync();
        var early = await Task.WhenAny(first, Task.Delay(TimeSpan.FromMilliseconds(500)));
        _store.ReleaseCompletes();
        var reply = await first;
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.NotSame(first, early);
        Assert.Equal("ok", reply.Text);
        Assert.Equal(200, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("ok", retry.Text);
    }

    [Fact]
    public async Task Post_LargeResponse_StreamsBeforeHandlerFinishes()
    {
        var readByClient = new Signal();
        await using var sut = await CreateSut(app => app.MapPost("/export", async (HttpContext context) =>
        {
            context.Response.ContentType = "text/plain";
            await context.Response.Body.WriteAsync(Encoding.ASCII.GetBytes(new string('a', 20 * 1024)));
            await context.Response.Body.FlushAsync();

            // Held back, the client could never read these bytes before this returns, and the test would time out.
            await readByClient.WaitAsync();
            await context.Response.Body.WriteAsync("end"u8.ToArray());
        }).RequireIdempotency());

        using var client = sut.CreateClient();
        using var response = await client.SendAsync(Request("/export", "k-1"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var prefix = new byte[20 * 1024];
        await body.ReadExactlyAsync(prefix);
        readByClient.Set();
        using var rest = new MemoryStream();
        await body.CopyToAsync(rest);
        var replay = await sut.Client.PostAsync("/export", "k-1");

        Assert.All(prefix, b => Assert.Equal((byte)'a', b));
        Assert.Equal("end", Encoding.ASCII.GetString(rest.ToArray()));
        Assert.True(replay.IsReplayed);
        Assert.Equal(20 * 1024 + 3, replay.Body.Length);
    }

    [Fact]
    public async Task Post_HandlerDisablesBuffering_SmallWritesReachClientAtOnce()
    {
        var readByClient = new Signal();
        await using var sut = await CreateSut(app => app.MapPost("/events", async (HttpContext context) =>
        {
            context.Features.Get<IHttpResponseBodyFeature>()!.DisableBuffering();
            context.Response.ContentType = "text/plain";
            await context.Response.WriteAsync("first;");
            await context.Response.Body.FlushAsync();
            await readByClient.WaitAsync();
            await context.Response.WriteAsync("second");
        }).RequireIdempotency());

        using var client = sut.CreateClient();
        using var response = await client.SendAsync(Request("/events", "k-1"), HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var first = new byte[6];
        await body.ReadExactlyAsync(first);
        readByClient.Set();
        using var rest = new MemoryStream();
        await body.CopyToAsync(rest);
        var replay = await sut.Client.PostAsync("/events", "k-1");

        Assert.Equal("first;", Encoding.ASCII.GetString(first));
        Assert.Equal("second", Encoding.ASCII.GetString(rest.ToArray()));
        Assert.Equal("first;second", replay.Text);
        Assert.True(replay.IsReplayed);
    }

    [Fact]
    public async Task Post_HandlerStartsResponse_HeadersReachClientAtOnce()
    {
        var readByClient = new Signal();
        await using var sut = await CreateSut(app => app.MapPost("/started", async (HttpContext context) =>
        {
            context.Response.StatusCode = 202;
            await context.Response.StartAsync();
            await context.Response.BodyWriter.FlushAsync();
            await readByClient.WaitAsync();
            await context.Response.WriteAsync("done");
        }).RequireIdempotency());

        using var client = sut.CreateClient();
        using var response = await client.SendAsync(Request("/started", "k-1"), HttpCompletionOption.ResponseHeadersRead);
        readByClient.Set();
        var text = await response.Content.ReadAsStringAsync();

        Assert.Equal(202, (int)response.StatusCode);
        Assert.Equal("done", text);
    }

    [Fact]
    public async Task Post_ResponseOverCaptureLimitBelowHoldSize_StreamsAndRecordsWithoutBody()
    {
        await using var sut = await CreateSut(
            app => app.MapPost("/big", () => Results.Text(new string('x', 500))).RequireIdempotency(),
            http: options => options.MaxResponseBodyBytes = 100);

        var first = await sut.Client.PostAsync("/big", "k-1");
        var replay = await sut.Client.PostAsync("/big", "k-1");

        Assert.Equal(new string('x', 500), first.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal("true", replay.Header("Idempotent-Body-Omitted"));
        Assert.Empty(replay.Body);
    }

    [Fact]
    public async Task Post_HandlerWritesThenThrows_ClientGetsClean500AndRetryRuns()
    {
        var calls = new CallCounter();
        await using var sut = await CreateSut(app => app.MapPost("/payments", async (HttpContext context) =>
        {
            if (calls.Increment() == 1)
            {
                // Bytes, not WriteAsync(string): that extension starts the response first, which sends it on its way.
                await context.Response.Body.WriteAsync("partial"u8.ToArray());
                throw new InvalidOperationException("failed after writing");
            }

            await context.Response.WriteAsync("whole");
        }).RequireIdempotency());

        var failed = await sut.Client.PostAsync("/payments", "k-1");
        var retry = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(500, failed.Status);
        Assert.DoesNotContain("partial", failed.Text, StringComparison.Ordinal);
        Assert.Equal("whole", retry.Text);
        Assert.False(retry.IsReplayed);
    }

    [Fact]
    public async Task Post_HandlerClearsHeldResponse_ClientAndReplayGetOnlyWhatFollows()
    {
        // What an error handler inside Idem does with a response that has not started: clear it and write another.
        await using var sut = await CreateSut(app => app.MapPost("/payments", async (HttpContext context) =>
        {
            await context.Response.Body.WriteAsync("partial"u8.ToArray());
            context.Response.Clear();
            context.Response.StatusCode = 422;
            await context.Response.Body.WriteAsync("replaced"u8.ToArray());
        }).RequireIdempotency());

        var first = await sut.Client.PostAsync("/payments", "k-1");
        var replay = await sut.Client.PostAsync("/payments", "k-1");

        Assert.Equal(422, first.Status);
        Assert.Equal("replaced", first.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal("replaced", replay.Text);
    }

    private static HttpRequestMessage Request(string path, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    /// <summary>A store whose completes can be held at a gate, to see what the client has meanwhile.</summary>
    private sealed class GatedStore(IIdempotencyStore inner) : IIdempotencyStore
    {
        private volatile TaskCompletionSource? _gate;

        public Signal CompleteEntered { get; } = new();

        public void HoldCompletes() => _gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void ReleaseCompletes() => _gate?.TrySetResult();

        public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => inner.TryClaimAsync(request, cancellationToken);

        public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
        {
            CompleteEntered.Set();
            if (_gate is { } gate)
            {
                await gate.Task.WaitAsync(Signal.Timeout, cancellationToken);
            }

            return await inner.CompleteAsync(lease, response, cancellationToken);
        }

        public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.ReleaseAsync(lease, cancellationToken);

        public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.RenewAsync(lease, cancellationToken);

        public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

        public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => inner.GetAsync(storeKey, cancellationToken);

        public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);
    }
}
