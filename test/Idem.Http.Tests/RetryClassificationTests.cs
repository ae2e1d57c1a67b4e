using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Idem.AspNetCore;
using Idem.Http.Tests.Infrastructure;

namespace Idem.Http.Tests;

/// <summary>What is retried and what is not, status by status and exception by exception.</summary>
public sealed class RetryClassificationTests
{
    private const int MaxAttempts = 3;

    private static HttpClient CreateSut(ScriptedHandler inner, Action<IdempotentClientOptions>? configure = null)
        => Client.Create(inner, o =>
        {
            o.MaxAttempts = MaxAttempts;
            configure?.Invoke(o);
        });

    [Theory]
    [InlineData(400)]
    [InlineData(401)]
    [InlineData(402)]
    [InlineData(403)]
    [InlineData(404)]
    [InlineData(408)]
    [InlineData(410)]
    [InlineData(412)]
    [InlineData(413)]
    [InlineData(422)]
    [InlineData(501)]
    [InlineData(505)]
    public async Task Send_StatusNotRetried_ReturnsItAfterOneAttempt(int status)
    {
        var inner = ScriptedHandler.Statuses(status, 200);
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(1, inner.Count);
        Assert.Equal(1, response.GetIdempotencyInfo()!.Attempts);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(502)]
    [InlineData(503)]
    [InlineData(504)]
    public async Task Send_TransientStatus_RetriesUntilSuccess(int status)
    {
        var inner = ScriptedHandler.Statuses(status, status, 201);
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, inner.Count);
        Assert.Equal(3, response.GetIdempotencyInfo()!.Attempts);
    }

    [Theory]
    [InlineData(429)]
    [InlineData(503)]
    public async Task Send_TransientStatusEveryTime_ReturnsTheLastAfterMaxAttempts(int status)
    {
        var inner = ScriptedHandler.Statuses(status);
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(status, (int)response.StatusCode);
        Assert.Equal(MaxAttempts, inner.Count);
        Assert.Equal(MaxAttempts, response.GetIdempotencyInfo()!.Attempts);
    }

    [Fact]
    public async Task Send_500WithoutRetryOn500_ReturnsItAfterOneAttempt()
    {
        var inner = ScriptedHandler.Statuses(500, 200);
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_500WithRetryOn500_Retries()
    {
        var inner = ScriptedHandler.Statuses(500, 200);
        using var sut = CreateSut(inner, o => o.RetryOn500 = true);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Count);
    }

    [Fact]
    public async Task Send_409RequestInProgressProblem_RetriesEvenWithoutRetryAfter()
    {
        var inner = ScriptedHandler.Responses(() => Problem(409, IdempotencyProblemTypes.RequestInProgress), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Count);
    }

    [Fact]
    public async Task Send_409WithRetryAfter_Retries()
    {
        var inner = ScriptedHandler.Responses(
            () =>
            {
                var conflict = new HttpResponseMessage(HttpStatusCode.Conflict);
                conflict.Headers.RetryAfter = new RetryConditionHeaderValue(TimeSpan.Zero);
                return conflict;
            },
            () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Count);
    }

    [Fact]
    public async Task Send_409BusinessConflictProblem_ReturnsItAfterOneAttemptWithItsBodyReadable()
    {
        var inner = ScriptedHandler.Responses(() => Problem(409, "https://example.com/problems/account-frozen"), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(1, inner.Count);
        Assert.Contains("account-frozen", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Send_409PlainConflict_ReturnsItAfterOneAttempt()
    {
        var inner = ScriptedHandler.Responses(
            () => new HttpResponseMessage(HttpStatusCode.Conflict) { Content = new StringContent("""{"error":"duplicate name"}""", Encoding.UTF8, "application/json") },
            () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_422KeyMismatch_ReturnsItAfterOneAttempt()
    {
        var inner = ScriptedHandler.Responses(() => Problem(422, IdempotencyProblemTypes.KeyMismatch), () => new HttpResponseMessage(HttpStatusCode.OK));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public void RequestInProgressType_IsTheServersProblemType()
        => Assert.Equal(IdempotencyProblemTypes.RequestInProgress, RetryRules.RequestInProgressType);

    [Fact]
    public async Task Send_ConnectionRefused_RetriesThenThrowsTheConnectionError()
    {
        using var closed = new TcpListener(IPAddress.Loopback, 0);
        closed.Start();
        var port = ((IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();
        var counter = new CountingHandler { InnerHandler = new SocketsHttpHandler() };
        using var sut = Client.Create(counter, o => o.MaxAttempts = MaxAttempts);

        var error = await Assert.ThrowsAsync<HttpRequestException>(() => sut.SendAsync(Client.Post($"http://127.0.0.1:{port}/payments")));

        Assert.Equal(HttpRequestError.ConnectionError, error.HttpRequestError);
        Assert.Equal(MaxAttempts, counter.Count);
    }

    [Fact]
    public async Task Send_ConnectionRefusedOnce_SucceedsOnTheRetry()
    {
        var inner = new ScriptedHandler((n, _, _) => n == 1
            ? throw new HttpRequestException(HttpRequestError.ConnectionError, "refused", new SocketException((int)SocketError.ConnectionRefused))
            : Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, inner.Count);
    }

    [Theory]
    [InlineData("io")]
    [InlineData("socket")]
    [InlineData("response-ended")]
    public async Task Send_TransportFailure_Retries(string kind)
    {
        var inner = new ScriptedHandler((n, _, _) => n == 1
            ? throw kind switch
            {
                "io" => new IOException("connection reset"),
                "socket" => new SocketException((int)SocketError.ConnectionReset),
                _ => new HttpRequestException(HttpRequestError.ResponseEnded, "ended"),
            }
            : Task.FromResult(new HttpResponseMessage(HttpStatusCode.OK)));
        using var sut = CreateSut(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(2, inner.Count);
    }

    [Fact]
    public async Task Send_TlsFailure_ThrowsWithoutRetrying()
    {
        var inner = new ScriptedHandler((_, _, _) => throw new HttpRequestException(HttpRequestError.SecureConnectionError, "bad certificate"));
        using var sut = CreateSut(inner);

        await Assert.ThrowsAsync<HttpRequestException>(() => sut.SendAsync(Client.Post()));

        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_UnexpectedException_ThrowsWithoutRetrying()
    {
        var inner = new ScriptedHandler((_, _, _) => throw new InvalidOperationException("bug"));
        using var sut = CreateSut(inner);

        await Assert.ThrowsAsync<InvalidOperationException>(() => sut.SendAsync(Client.Post()));

        Assert.Equal(1, inner.Count);
    }

    [Fact]
    public async Task Send_CallerCancelsDuringAttempt_ThrowsOperationCanceledWithoutRetrying()
    {
        var started = new Signal();
        var inner = new ScriptedHandler(async (_, _, ct) =>
        {
            started.Set();
            await Task.Delay(Timeout.Infinite, ct);
            return new HttpResponseMessage(HttpStatusCode.OK);
        });
        using var sut = CreateSut(inner);
        using var cancellation = new CancellationTokenSource();

        var send = sut.SendAsync(Client.Post(), cancellation.Token);
        await started.WaitAsync();
        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Signal.Timeout));
        Assert.Equal(1, inner.Count);
    }

    private static HttpResponseMessage Problem(int status, string type)
    {
        var json = $$"""{"type":"{{type}}","title":"t","status":{{status}},"detail":"d"}""";
        return new HttpResponseMessage((HttpStatusCode)status) { Content = new StringContent(json, Encoding.UTF8, "application/problem+json") };
    }

    private sealed class CountingHandler : DelegatingHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _count);
            return base.SendAsync(request, cancellationToken);
        }
    }
}
