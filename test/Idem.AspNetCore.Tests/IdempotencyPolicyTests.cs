using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>Endpoint policies: optional keys, methods, groups and opting out.</summary>
public sealed class IdempotencyPolicyTests
{
    private readonly CallCounter _calls = new();
    private readonly InMemoryIdempotencyStore _store = new();

    private Task<TestApp> CreateSut(Action<WebApplication> map) => TestApp.StartAsync(map, store: b => b.UseStore(_store));

    private IResult Handle() => Results.Ok(new { call = _calls.Increment() });

    [Fact]
    public async Task Post_OptionalKeyMissing_RunsEveryTimeAndStoresNothing()
    {
        await using var sut = await CreateSut(app => app.MapPost("/orders", Handle).RequireIdempotency(p => p.Optional()));

        var first = await sut.Client.PostAsync("/orders", key: null);
        var second = await sut.Client.PostAsync("/orders", key: null);
        var third = await sut.Client.PostAsync("/orders", key: null);

        Assert.Equal(["""{"call":1}""", """{"call":2}""", """{"call":3}"""], new[] { first.Text, second.Text, third.Text });
        Assert.All(new[] { first, second, third }, r => Assert.False(r.Has("Idempotent-Replayed")));
        Assert.Equal(0, _store.Count);
    }

    [Fact]
    public async Task Post_OptionalKeyPresent_IsDeduplicated()
    {
        await using var sut = await CreateSut(app => app.MapPost("/orders", Handle).RequireIdempotency(p => p.Optional()));

        await sut.Client.PostAsync("/orders", key: null);
        var keyed = await sut.Client.PostAsync("/orders", "k-1");
        var replay = await sut.Client.PostAsync("/orders", "k-1");
        var keyless = await sut.Client.PostAsync("/orders", key: null);

        Assert.Equal("""{"call":2}""", keyed.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal(keyed.Body, replay.Body);
        Assert.Equal("""{"call":3}""", keyless.Text);
        Assert.Equal(1, _store.Count);
    }

    [Fact]
    public async Task Post_OptionalKeyInvalid_Returns400()
    {
        await using var sut = await CreateSut(app => app.MapPost("/orders", Handle).RequireIdempotency(p => p.Optional()));

        var reply = await sut.Client.PostAsync("/orders", "a, b");

        Assert.Equal(400, reply.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, reply.Problem().Type);
        Assert.Equal(0, _calls.Count);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("PUT")]
    [InlineData("DELETE")]
    [InlineData("HEAD")]
    public async Task Send_MethodNotOptedIn_PassesThroughWithOrWithoutKey(string method)
    {
        await using var sut = await CreateSut(app => app.MapMethods("/items/{id}", ["GET", "PUT", "DELETE", "HEAD", "POST"], Handle).RequireIdempotency());

        var keyless = await sut.Client.SendAsync(new HttpMethod(method), "/items/1", key: null, body: null);
        var keyed = await sut.Client.SendAsync(new HttpMethod(method), "/items/1", "k-1", body: null);
        var keyedAgain = await sut.Client.SendAsync(new HttpMethod(method), "/items/1", "k-1", body: null);

        Assert.Equal(200, keyless.Status);
        Assert.Equal(200, keyed.Status);
        Assert.False(keyedAgain.Has("Idempotent-Replayed"));
        Assert.Equal(3, _calls.Count);
        Assert.Equal(0, _store.Count);
    }

    [Fact]
    public async Task Put_OptedInThroughMethods_IsDeduplicatedAndPostPassesThrough()
    {
        await using var sut = await CreateSut(app => app.MapMethods("/items/{id}", ["PUT", "POST"], Handle).RequireIdempotency(p => p.Methods("PUT")));

        var missing = await sut.Client.SendAsync(HttpMethod.Put, "/items/1", key: null);
        var first = await sut.Client.SendAsync(HttpMethod.Put, "/items/1", "k-1");
        var replay = await sut.Client.SendAsync(HttpMethod.Put, "/items/1", "k-1");
        var otherItem = await sut.Client.SendAsync(HttpMethod.Put, "/items/2", "k-1");
        var post = await sut.Client.PostAsync("/items/1", key: null);

        Assert.Equal(400, missing.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyMissing, missing.Problem().Type);
        Assert.True(replay.IsReplayed);
        Assert.Equal(first.Body, replay.Body);
        // Route values are part of the fingerprint: the same key on another item is another request.
        Assert.Equal(422, otherItem.Status);
        Assert.Equal(200, post.Status);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Delete_OptedIn_IsDeduplicated()
    {
        await using var sut = await CreateSut(app => app.MapDelete("/items/{id}", Handle).RequireIdempotency(p => p.Methods("DELETE")));

        await sut.Client.SendAsync(HttpMethod.Delete, "/items/1", "k-1", body: null);
        var replay = await sut.Client.SendAsync(HttpMethod.Delete, "/items/1", "k-1", body: null);

        Assert.True(replay.IsReplayed);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_GroupPolicy_AppliesToEveryEndpointInIt()
    {
        await using var sut = await CreateSut(app =>
        {
            var group = app.MapGroup("/v1").RequireIdempotency();
            group.MapPost("/a", Handle);
            group.MapPost("/b", Handle);
        });

        var a = await sut.Client.PostAsync("/v1/a", key: null);
        var b = await sut.Client.PostAsync("/v1/b", key: null);
        await sut.Client.PostAsync("/v1/b", "k-1");
        var bReplay = await sut.Client.PostAsync("/v1/b", "k-1");

        Assert.Equal(400, a.Status);
        Assert.Equal(400, b.Status);
        Assert.True(bReplay.IsReplayed);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_DisableIdempotencyInsideGroup_OverridesGroupPolicy()
    {
        await using var sut = await CreateSut(app =>
        {
            var group = app.MapGroup("/v1").RequireIdempotency();
            group.MapPost("/on", Handle);
            group.MapPost("/off", Handle).DisableIdempotency();
        });

        var on = await sut.Client.PostAsync("/v1/on", key: null);
        var offKeyless = await sut.Client.PostAsync("/v1/off", key: null);
        var offKeyed = await sut.Client.PostAsync("/v1/off", "k-1");
        var offKeyedAgain = await sut.Client.PostAsync("/v1/off", "k-1");

        Assert.Equal(400, on.Status);
        Assert.Equal(200, offKeyless.Status);
        Assert.Equal(200, offKeyed.Status);
        Assert.False(offKeyedAgain.Has("Idempotent-Replayed"));
        Assert.Equal("""{"call":3}""", offKeyedAgain.Text);
        Assert.Equal(0, _store.Count);
    }

    [Fact]
    public async Task Post_EndpointWithoutPolicy_IsUntouched()
    {
        await using var sut = await CreateSut(app => app.MapPost("/plain", Handle));

        await sut.Client.PostAsync("/plain", "k-1");
        var again = await sut.Client.PostAsync("/plain", "k-1");

        Assert.False(again.Has("Idempotent-Replayed"));
        Assert.Equal(2, _calls.Count);
    }
}
