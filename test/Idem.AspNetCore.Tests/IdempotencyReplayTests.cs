using System.Security.Cryptography;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>BEHAVIOUR §4 rows "new key" and "same key, same fingerprint, completed", and §5's header allow-list.</summary>
public sealed class IdempotencyReplayTests
{
    private const string LastModified = "Tue, 15 Nov 1994 12:45:26 GMT";

    private readonly CallCounter _calls = new();
    private readonly RecordingStore _store = new(new InMemoryIdempotencyStore());

    private Task<TestApp> CreateSut(Action<IdempotencyPolicyBuilder>? policy = null, Action<IdempotencyHttpOptions>? options = null)
        => TestApp.StartAsync(
            app =>
            {
                app.MapPost("/documents", (Delegate)WriteDocumentAsync).RequireIdempotency(policy);
                app.MapPost("/orders", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(policy);
                app.MapPost("/other", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(policy);
            },
            http: options,
            store: b => b.UseStore(_store));

    // Writes every header the allow-list names, some it must never keep, and a binary body unique to the call.
    private async Task<IResult> WriteDocumentAsync(HttpContext context)
    {
        var call = _calls.Increment();
        var response = context.Response;
        response.StatusCode = StatusCodes.Status201Created;
        response.ContentType = "application/vnd.idem-test+json; charset=utf-8";
        response.Headers.Location = $"/documents/{call}";
        response.Headers.ETag = $"\"v{call}\"";
        response.Headers.CacheControl = "no-store";
        response.Headers.ContentLanguage = "en-GB";
        response.Headers.LastModified = LastModified;
        response.Headers.SetCookie = "session=secret; Path=/";
        response.Headers.Server = "handler-server";
        response.Headers["X-Not-Listed"] = "dropped";
        response.Headers["X-Request-Total"] = call.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = new byte[300];
        RandomNumberGenerator.Fill(body);
        body[0] = (byte)call;
        await response.Body.WriteAsync(body);
        return Results.Empty;
    }

    [Fact]
    public async Task Post_NewKey_RunsHandlerAndSendsItsResponse()
    {
        await using var sut = await CreateSut();

        var reply = await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal(200, reply.Status);
        Assert.Equal("""{"call":1}""", reply.Text);
        Assert.False(reply.Has("Idempotent-Replayed"));
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeySameBody_ReplaysStatusBodyBytesAndAllowListedHeaders()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/documents", "k-1");
        var second = await sut.Client.PostAsync("/documents", "k-1");
        var third = await sut.Client.PostAsync("/documents", "k-1");

        Assert.Equal(201, first.Status);
        Assert.Equal(1, _calls.Count);
        foreach (var replay in new[] { second, third })
        {
            Assert.Equal(201, replay.Status);
            Assert.Equal(first.Body, replay.Body);
            Assert.Equal("true", replay.Header("Idempotent-Replayed"));
            Assert.Equal("application/vnd.idem-test+json; charset=utf-8", replay.Header("Content-Type"));
            Assert.Equal("/documents/1", replay.Header("Location"));
            Assert.Equal("\"v1\"", replay.Header("ETag"));
            Assert.Equal("no-store", replay.Header("Cache-Control"));
            Assert.Equal("en-GB", replay.Header("Content-Language"));
            Assert.Equal(LastModified, replay.Header("Last-Modified"));
            Assert.Equal("300", replay.Header("Content-Length"));
            Assert.False(replay.Has("Set-Cookie"));
            Assert.False(replay.Has("Server"));
            Assert.False(replay.Has("X-Not-Listed"));
            Assert.False(replay.Has("X-Request-Total"));
        }
    }

    [Fact]
    public async Task Post_HandlerSetsCookieDateAndServer_NoneOfThemIsStored()
    {
        // Kestrel adds its own Date to every response, so "never replayed" is checked where it is decided: the record.
        await using var sut = await CreateSut(options: o =>
        {
            o.ReplayedHeaders.Add("Set-Cookie");
            o.ReplayedHeaders.Add("Date");
            o.ReplayedHeaders.Add("Server");
        });

        var first = await sut.Client.PostAsync("/documents", "k-1");

        Assert.Equal("session=secret; Path=/", first.Header("Set-Cookie"));
        var stored = Assert.Single(_store.Completed);
        var names = stored.Headers.Select(h => h.Key).ToArray();
        Assert.DoesNotContain(names, n => n.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(names, n => n.Equals("Date", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(names, n => n.Equals("Server", StringComparison.OrdinalIgnoreCase));
        Assert.DoesNotContain(names, n => n.Equals("X-Not-Listed", StringComparison.OrdinalIgnoreCase));
        Assert.Contains(names, n => n.Equals("ETag", StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public async Task Post_HeaderAddedByOptions_IsReplayed()
    {
        await using var sut = await CreateSut(options: o => o.ReplayedHeaders.Add("X-Request-Total"));

        await sut.Client.PostAsync("/documents", "k-1");
        var replay = await sut.Client.PostAsync("/documents", "k-1");

        Assert.True(replay.IsReplayed);
        Assert.Equal("1", replay.Header("X-Request-Total"));
        Assert.False(replay.Has("X-Not-Listed"));
    }

    [Fact]
    public async Task Post_HeaderAddedByEndpointPolicy_IsReplayed()
    {
        await using var sut = await CreateSut(policy: p => p.ReplayHeaders("X-Request-Total", "Set-Cookie"));

        await sut.Client.PostAsync("/documents", "k-1");
        var replay = await sut.Client.PostAsync("/documents", "k-1");

        Assert.True(replay.IsReplayed);
        Assert.Equal("1", replay.Header("X-Request-Total"));
        Assert.False(replay.Has("Set-Cookie"));
    }

    [Fact]
    public async Task Post_JsonWithOtherMemberOrderAndWhitespace_Replays()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/orders", "k-1", """{"amount":100,"to":{"id":"acc-1","bank":"x"},"tags":[1,2]}""");
        var second = await sut.Client.PostAsync("/orders", "k-1", """
            {
              "tags" : [ 1, 2 ],
              "to" : { "bank" : "x", "id" : "acc-1" },
              "amount" : 100
            }
            """);

        Assert.Equal(200, second.Status);
        Assert.True(second.IsReplayed);
        Assert.Equal(first.Body, second.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeyDifferentBody_Returns422MismatchAndDoesNotRun()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders", "k-1", """{"amount":100}""");
        var reply = await sut.Client.PostAsync("/orders", "k-1", """{"amount":101}""");

        Assert.Equal(422, reply.Status);
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.KeyMismatch, problem.Type);
        Assert.Equal(422, problem.Status);
        Assert.Contains("Do not retry with this key", problem.Detail, StringComparison.Ordinal);
        Assert.False(reply.Has("Idempotent-Replayed"));
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeyDifferentArrayOrder_Returns422()
    {
        // Member order does not matter; element order does.
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders", "k-1", """{"tags":[1,2]}""");
        var reply = await sut.Client.PostAsync("/orders", "k-1", """{"tags":[2,1]}""");

        Assert.Equal(422, reply.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeyDifferentQueryString_Returns422()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/orders?currency=EUR", "k-1");
        var same = await sut.Client.PostAsync("/orders?currency=EUR", "k-1");
        var other = await sut.Client.PostAsync("/orders?currency=USD", "k-1");

        Assert.Equal(200, first.Status);
        Assert.True(same.IsReplayed);
        Assert.Equal(422, other.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyMismatch, other.Problem().Type);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_QueryParametersInOtherOrder_Replays()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders?a=1&b=2", "k-1");
        var second = await sut.Client.PostAsync("/orders?b=2&a=1", "k-1");

        Assert.True(second.IsReplayed);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeyDifferentContentType_Returns422()
    {
        await using var sut = await CreateSut();

        await sut.Client.SendAsync(HttpMethod.Post, "/orders", "k-1", "amount=1", "application/x-www-form-urlencoded");
        var reply = await sut.Client.SendAsync(HttpMethod.Post, "/orders", "k-1", "amount=1", "text/plain");

        Assert.Equal(422, reply.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_FingerprintNarrowedToMembers_IgnoresOtherMembers()
    {
        await using var sut = await CreateSut(policy: p => p.Fingerprint("amount", "to.id"));

        await sut.Client.PostAsync("/orders", "k-1", """{"amount":5,"to":{"id":"a","note":"x"},"traceId":"1"}""");
        var sameMembers = await sut.Client.PostAsync("/orders", "k-1", """{"amount":5,"to":{"id":"a","note":"y"},"traceId":"2"}""");
        var otherAmount = await sut.Client.PostAsync("/orders", "k-1", """{"amount":6,"to":{"id":"a"}}""");

        Assert.True(sameMembers.IsReplayed);
        Assert.Equal(422, otherAmount.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_LargeBodiesDifferingOnlyAtTheEnd_Returns422()
    {
        // The whole body counts, never a prefix.
        await using var sut = await CreateSut();
        var prefix = new string('x', 200_000);

        await sut.Client.SendAsync(HttpMethod.Post, "/orders", "k-1", prefix + "A", "text/plain");
        var reply = await sut.Client.SendAsync(HttpMethod.Post, "/orders", "k-1", prefix + "B", "text/plain");

        Assert.Equal(422, reply.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SameKeyOnTwoRoutes_AreSeparateRecords()
    {
        await using var sut = await CreateSut();

        var orders = await sut.Client.PostAsync("/orders", "k-1");
        var other = await sut.Client.PostAsync("/other", "k-1");
        var ordersAgain = await sut.Client.PostAsync("/orders", "k-1");

        Assert.False(orders.IsReplayed);
        Assert.Equal(200, other.Status);
        Assert.False(other.IsReplayed);
        Assert.Equal("""{"call":2}""", other.Text);
        Assert.True(ordersAgain.IsReplayed);
        Assert.Equal("""{"call":1}""", ordersAgain.Text);
        Assert.Equal(2, _calls.Count);
    }
}
