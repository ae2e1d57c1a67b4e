using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.AspNetCore.Tests;

/// <summary>BEHAVIOUR §2: whose key it is.</summary>
public sealed class IdempotencyScopeTests
{
    private readonly CallCounter _calls = new();

    private Task<TestApp> CreateSut(Action<IdempotencyHttpOptions>? options = null)
        => TestApp.StartAsync(
            app => app.MapPost("/orders", (HttpContext context) => Results.Ok(new { call = _calls.Increment(), user = context.User.Identity?.Name ?? context.User.FindFirst(System.Security.Claims.ClaimTypes.NameIdentifier)?.Value }))
                .RequireIdempotency(),
            http: options,
            services: s => s.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null),
            pipeline: app => app.UseAuthentication());

    private static Action<HttpRequestMessage> As(string user) => r => r.Headers.Add(HeaderAuthenticationHandler.UserHeader, user);

    private static Action<HttpRequestMessage> WithApiKey(string apiKey) => r => r.Headers.Add("X-Api-Key", apiKey);

    [Fact]
    public async Task Post_TwoPrincipalsSameKey_EachGetsTheirOwnResponse()
    {
        await using var sut = await CreateSut();

        var alice = await sut.Client.PostAsync("/orders", "k-1", configure: As("alice"));
        var bob = await sut.Client.PostAsync("/orders", "k-1", configure: As("bob"));
        var aliceRetry = await sut.Client.PostAsync("/orders", "k-1", configure: As("alice"));
        var bobRetry = await sut.Client.PostAsync("/orders", "k-1", configure: As("bob"));

        Assert.Equal("""{"call":1,"user":"alice"}""", alice.Text);
        Assert.False(bob.IsReplayed);
        Assert.Equal("""{"call":2,"user":"bob"}""", bob.Text);
        Assert.True(aliceRetry.IsReplayed);
        Assert.Equal(alice.Body, aliceRetry.Body);
        Assert.True(bobRetry.IsReplayed);
        Assert.Equal(bob.Body, bobRetry.Body);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_TwoPrincipalsSameKeyDifferentBodies_NeitherIsAMismatch()
    {
        await using var sut = await CreateSut();

        var alice = await sut.Client.PostAsync("/orders", "k-1", """{"amount":1}""", As("alice"));
        var bob = await sut.Client.PostAsync("/orders", "k-1", """{"amount":2}""", As("bob"));

        Assert.Equal(200, alice.Status);
        Assert.Equal(200, bob.Status);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_AnonymousAndAuthenticatedSameKey_AreSeparate()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders", "k-1");
        var alice = await sut.Client.PostAsync("/orders", "k-1", configure: As("alice"));

        Assert.False(alice.IsReplayed);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_ScopeHeaderConfigured_ApiKeysAreSeparateScopes()
    {
        await using var sut = await CreateSut(o => o.ScopeHeaderName = "X-Api-Key");

        var first = await sut.Client.PostAsync("/orders", "k-1", configure: WithApiKey("key-a"));
        var other = await sut.Client.PostAsync("/orders", "k-1", configure: WithApiKey("key-b"));
        var retry = await sut.Client.PostAsync("/orders", "k-1", configure: WithApiKey("key-a"));

        Assert.False(other.IsReplayed);
        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(2, _calls.Count);
    }
}
