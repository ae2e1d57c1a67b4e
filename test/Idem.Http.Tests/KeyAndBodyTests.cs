using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Idem.Http.Tests.Infrastructure;

namespace Idem.Http.Tests;

/// <summary>One key per logical request, kept across attempts, with identical body bytes on every attempt.</summary>
public sealed class KeyAndBodyTests
{
    [Fact]
    public async Task Send_Retried_EveryAttemptCarriesTheSameKeyAndIdenticalBodyBytes()
    {
        var inner = ScriptedHandler.Statuses(503, 502, 504, 201);
        using var sut = Client.Create(inner);
        var body = new byte[64 * 1024];
        Random.Shared.NextBytes(body);

        // A stream can be read once: the handler must snapshot it, not send it again.
        using var request = new HttpRequestMessage(HttpMethod.Post, "/documents") { Content = new StreamContent(new OneShotStream(body)) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        request.Content.Headers.ContentLanguage.Add("en-GB");
        using var response = await sut.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(4, inner.Count);
        var key = inner.Requests[0].Key;
        Assert.NotNull(key);
        foreach (var attempt in inner.Requests)
        {
            Assert.Equal([key], attempt.Keys);
            Assert.Equal(body, attempt.Body);
            Assert.Equal("application/octet-stream", attempt.ContentType);
            Assert.Equal(["en-GB"], attempt.Message.Content!.Headers.ContentLanguage);
            Assert.Equal(body.Length, attempt.Message.Content.Headers.ContentLength);
        }

        Assert.Equal(new IdempotentCallInfo(key, 4, Replayed: false), response.GetIdempotencyInfo());
    }

    [Fact]
    public async Task Send_NoCallerKey_GeneratesA128BitUrlSafeKey()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        using var response = await sut.SendAsync(Client.Post());

        var key = inner.Requests[0].Key!;
        Assert.Matches("^[A-Za-z0-9_-]{22}$", key);
        Assert.Equal(16, Convert.FromBase64String(key.Replace('-', '+').Replace('_', '/') + "==").Length);
    }

    [Fact]
    public async Task Send_TwoLogicalRequests_GetDifferentKeys()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        (await sut.SendAsync(Client.Post())).Dispose();
        (await sut.SendAsync(Client.Post())).Dispose();

        Assert.NotEqual(inner.Requests[0].Key, inner.Requests[1].Key);
    }

    [Fact]
    public async Task Send_CallerSetKeyHeader_IsKeptAndNotDuplicated()
    {
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner);
        using var request = Client.Post();
        request.Headers.Add("Idempotency-Key", "order-42-payment");

        using var response = await sut.SendAsync(request);

        Assert.All(inner.Requests, r => Assert.Equal(["order-42-payment"], r.Keys));
        Assert.Equal("order-42-payment", response.GetIdempotencyInfo()!.Key);
    }

    [Fact]
    public async Task Send_KeySetThroughOptions_IsSentOnEveryAttempt()
    {
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner);
        using var request = Client.Post().SetIdempotencyKey("transfer:7f3a");

        using var response = await sut.SendAsync(request);

        Assert.All(inner.Requests, r => Assert.Equal(["transfer:7f3a"], r.Keys));
        Assert.Equal(2, response.GetIdempotencyInfo()!.Attempts);
    }

    [Fact]
    public async Task Send_CustomHeaderName_CarriesTheKey()
    {
        var inner = new ScriptedHandler((_, _, _) => Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK))) { HeaderName = "X-Request-Key" };
        using var sut = Client.Create(inner, o => o.HeaderName = "X-Request-Key");

        using var response = await sut.SendAsync(Client.Post());

        Assert.NotNull(inner.Requests[0].Key);
        Assert.False(inner.Requests[0].Message.Headers.Contains("Idempotency-Key"));
    }

    [Fact]
    public async Task Send_Get_PassesThroughWithoutKeyOrRetry()
    {
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner);

        using var response = await sut.GetAsync("/payments/1");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal(1, inner.Count);
        Assert.Empty(inner.Requests[0].Keys);
        Assert.Null(response.GetIdempotencyInfo());
    }

    [Fact]
    public async Task Send_DeleteWithCallerKey_GetsKeyAndRetries()
    {
        var inner = ScriptedHandler.Statuses(503, 204);
        using var sut = Client.Create(inner);
        using var request = new HttpRequestMessage(HttpMethod.Delete, "/cards/9").SetIdempotencyKey("delete-card-9");

        using var response = await sut.SendAsync(request);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.All(inner.Requests, r => Assert.Equal(["delete-card-9"], r.Keys));
    }

    [Fact]
    public async Task Send_PutWhenConfigured_GetsAKey()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner, o => o.Methods.Add(HttpMethod.Put));

        using var response = await sut.SendAsync(Client.Json(HttpMethod.Put, "/accounts/1"));

        Assert.NotNull(inner.Requests[0].Key);
    }

    [Fact]
    public async Task Send_Patch_GetsAKeyByDefault()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        using var response = await sut.SendAsync(Client.Json(HttpMethod.Patch, "/accounts/1"));

        Assert.NotNull(inner.Requests[0].Key);
    }

    [Fact]
    public async Task Send_KeyGenerator_CalledOncePerLogicalRequest()
    {
        var calls = 0;
        var inner = ScriptedHandler.Statuses(503, 503, 200);
        using var sut = Client.Create(inner, o => o.KeyGenerator = _ => $"gen-{Interlocked.Increment(ref calls)}");

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(1, calls);
        Assert.All(inner.Requests, r => Assert.Equal(["gen-1"], r.Keys));
    }

    [Fact]
    public async Task Send_KeyGeneratorMakesInvalidKey_Throws()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner, o => o.KeyGenerator = _ => "has space");

        await Assert.ThrowsAsync<InvalidOperationException>(() => sut.SendAsync(Client.Post()));

        Assert.Equal(0, inner.Count);
    }

    [Fact]
    public async Task Send_Retried_CopiesHeadersOptionsAndVersionToEveryAttempt()
    {
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner);
        var option = new HttpRequestOptionsKey<string>("tenant");
        using var request = Client.Post();
        request.Headers.Add("X-Correlation-Id", "c-1");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "token");
        request.Options.Set(option, "acme");
        request.Version = HttpVersion.Version20;
        request.VersionPolicy = HttpVersionPolicy.RequestVersionOrLower;

        using var response = await sut.SendAsync(request);

        Assert.Equal(2, inner.Count);
        foreach (var attempt in inner.Requests.Select(r => r.Message))
        {
            Assert.NotSame(request, attempt);
            Assert.Equal(["c-1"], attempt.Headers.GetValues("X-Correlation-Id"));
            Assert.Equal("Bearer token", attempt.Headers.Authorization?.ToString());
            Assert.True(attempt.Options.TryGetValue(option, out var tenant) && tenant == "acme");
            Assert.Equal(HttpVersion.Version20, attempt.Version);
            Assert.Equal(HttpVersionPolicy.RequestVersionOrLower, attempt.VersionPolicy);
            Assert.Equal(new Uri(Client.BaseAddress, "/payments"), attempt.RequestUri);
        }

        Assert.Same(request, response.RequestMessage);
    }

    [Fact]
    public async Task Send_NoBody_SendsNoContent()
    {
        var inner = ScriptedHandler.Statuses(503, 200);
        using var sut = Client.Create(inner);

        using var response = await sut.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/payments/1/capture"));

        Assert.All(inner.Requests, r => Assert.Null(r.Body));
    }

    [Fact]
    public async Task Send_Replay_ReportsReplayed()
    {
        var inner = ScriptedHandler.Responses(() =>
        {
            var response = new HttpResponseMessage(HttpStatusCode.Created);
            response.Headers.Add("Idempotent-Replayed", "true");
            return response;
        });
        using var sut = Client.Create(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.True(response.GetIdempotencyInfo()!.Replayed);
    }

    [Fact]
    public async Task Send_Failed_LeavesTheKeyOnTheRequestForALaterRetry()
    {
        var inner = new ScriptedHandler((_, _, _) => throw new HttpRequestException(HttpRequestError.ConnectionError, "refused"));
        using var sut = Client.Create(inner, o => o.MaxAttempts = 2);
        using var request = Client.Post();

        await Assert.ThrowsAsync<HttpRequestException>(() => sut.SendAsync(request));

        Assert.Equal(inner.Requests[0].Key, request.GetIdempotencyKey());
    }

    [Fact]
    public void Send_Synchronously_RefusesKeyedRequestsAndPassesOthersThrough()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        Assert.Throws<NotSupportedException>(() => sut.Send(Client.Post()));
        using var response = sut.Send(new HttpRequestMessage(HttpMethod.Get, "/payments/1"));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, inner.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("a,b")]
    [InlineData("quote\"d")]
    [InlineData("caf\u00e9")]
    public void SetIdempotencyKey_InvalidKey_Throws(string key)
    {
        using var request = Client.Post();

        Assert.Throws<ArgumentException>(() => request.SetIdempotencyKey(key));
    }

    [Fact]
    public void SetIdempotencyKey_TooLong_Throws()
    {
        using var request = Client.Post();

        Assert.Throws<ArgumentException>(() => request.SetIdempotencyKey(new string('k', 256)));
        request.SetIdempotencyKey(new string('k', 255));
    }

    [Fact]
    public void New_MakesDistinctValidKeys()
    {
        var keys = Enumerable.Range(0, 1000).Select(_ => IdempotencyKeys.New()).ToHashSet();

        Assert.Equal(1000, keys.Count);
        Assert.All(keys, k => Assert.True(IdempotencyKeys.IsValid(k)));
    }

    /// <summary>A stream that can be read once and cannot seek, like a network or file stream being forwarded.</summary>
    private sealed class OneShotStream(byte[] bytes) : Stream
    {
        private readonly MemoryStream _inner = new(bytes);
        private bool _done;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => false;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_done)
            {
                throw new InvalidOperationException("This stream was already read to its end.");
            }

            var read = _inner.Read(buffer, offset, count);
            _done = read == 0;
            return read;
        }

        public override void Flush()
        {
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
