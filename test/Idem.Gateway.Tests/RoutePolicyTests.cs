using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Idem.Gateway.Routes;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;

namespace Idem.Gateway.Tests;

/// <summary>Reading a route's metadata into its policy, and a caller's scope from a request.</summary>
public sealed class RoutePolicyTests
{
    private static RouteConfig Route(params (string Key, string Value)[] metadata)
        => new() { RouteId = "r", ClusterId = "c", Match = new RouteMatch { Path = "/{**rest}" }, Metadata = metadata.ToDictionary(m => m.Key, m => m.Value) };

    [Fact]
    public void Read_NoMetadata_GuardsWithTheContractDefaults()
    {
        var policy = RoutePolicy.Read(Route(), CallerScope.Default)!;

        Assert.True(policy.Idempotency.KeyRequired);
        Assert.Equal(["POST", "PATCH"], policy.Idempotency.Methods);
        Assert.Null(policy.Idempotency.LeaseDuration);
        Assert.Equal(CallerScope.Default, policy.Scope);
    }

    [Fact]
    public void Read_EveryKey_SetsThePolicy()
    {
        var policy = RoutePolicy.Read(Route(
            ("Idempotency.Required", "false"),
            ("idempotency.methods", "post, put"),
            ("Idempotency.Retention", "2.00:00:00"),
            ("Idempotency.Lease", "00:01:00"),
            ("Idempotency.Fingerprint", "amount,to"),
            ("Idempotency.Concurrent", "waitthenreplay"),
            ("Idempotency.ConcurrentTimeout", "00:00:05"),
            ("Idempotency.ServerErrors", "Store"),
            ("Idempotency.StoreFailure", "FailOpen"),
            ("Idempotency.ReplayedHeaders", "X-Request-Id"),
            ("Idempotency.Scope", "JwtSubject")), CallerScope.Default)!;

        var p = policy.Idempotency;
        Assert.False(p.KeyRequired);
        Assert.Equal(["POST", "PUT"], p.Methods);
        Assert.Equal(TimeSpan.FromDays(2), p.Retention);
        Assert.Equal(TimeSpan.FromMinutes(1), p.LeaseDuration);
        Assert.Equal(["amount", "to"], p.FingerprintMembers);
        Assert.Equal(ConcurrentRequestHandling.WaitThenReplay, p.ConcurrentRequests);
        Assert.Equal(TimeSpan.FromSeconds(5), p.ConcurrentWaitTimeout);
        Assert.Equal(ServerErrorHandling.Store, p.ServerErrors);
        Assert.Equal(StoreFailureHandling.FailOpen, p.StoreFailure);
        Assert.Equal(["X-Request-Id"], p.ReplayedHeaders);
        Assert.Equal(new CallerScope(ScopeSource.JwtSubject, "Authorization"), policy.Scope);
    }

    [Fact]
    public void Read_EnabledFalse_LeavesTheRouteUnguarded() => Assert.Null(RoutePolicy.Read(Route(("Idempotency.Enabled", "false")), CallerScope.Default));

    [Theory]
    [InlineData("Idempotency.Lease", "00:00:00.5")]
    [InlineData("Idempotency.Lease", "-00:00:10")]
    [InlineData("Idempotency.Retention", "forever")]
    [InlineData("Idempotency.Required", "yes")]
    [InlineData("Idempotency.ServerErrors", "1")]
    [InlineData("Idempotency.Scope", "Header")]
    [InlineData("Idempotency.Scope", "None:X")]
    [InlineData("Idempotency.Unknown", "x")]
    public void Read_UnreadableValue_ThrowsNamingTheRoute(string key, string value)
    {
        var error = Assert.Throws<FormatException>(() => RoutePolicy.Read(Route((key, value)), CallerScope.Default));

        Assert.StartsWith("Route 'r'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResolveAsync_Header_IsAHashNeverTheValue()
    {
        var scope = CallerScope.Parse("Header:X-Api-Key");

        var alice = await scope.ResolveAsync(Request(("X-Api-Key", "alice-secret")));
        var bob = await scope.ResolveAsync(Request(("X-Api-Key", "bob-secret")));
        var nobody = await scope.ResolveAsync(Request());

        Assert.StartsWith("header:", alice, StringComparison.Ordinal);
        Assert.DoesNotContain("alice", alice, StringComparison.Ordinal);
        Assert.NotEqual(alice, bob);
        Assert.Equal(CallerScope.Anonymous, nobody);
    }

    [Fact]
    public async Task ResolveAsync_JwtSubject_SameSubjectAcrossTokens_OtherSubjectApart()
    {
        var scope = CallerScope.Parse("JwtSubject");

        var first = await scope.ResolveAsync(Request(("Authorization", "Bearer " + Jwt("user-1", "a"))));
        var refreshed = await scope.ResolveAsync(Request(("Authorization", "Bearer " + Jwt("user-1", "b"))));
        var other = await scope.ResolveAsync(Request(("Authorization", "Bearer " + Jwt("user-2", "a"))));
        var notAJwt = await scope.ResolveAsync(Request(("Authorization", "Bearer opaque-token")));

        Assert.StartsWith("sub:", first, StringComparison.Ordinal);
        Assert.DoesNotContain("user-1", first, StringComparison.Ordinal);
        Assert.Equal(first, refreshed);
        Assert.NotEqual(first, other);
        Assert.StartsWith("header:", notAJwt, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ResolveAsync_ClientCertificate_IsItsThumbprint()
    {
        using var key = ECDsa.Create();
        using var certificate = new CertificateRequest("CN=client", key, HashAlgorithmName.SHA256).CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddDays(1));
        var context = Request();
        context.Connection.ClientCertificate = certificate;

        var scope = await CallerScope.Parse("ClientCertificate").ResolveAsync(context);

        Assert.Equal("cert:" + certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant(), scope);
    }

    private static DefaultHttpContext Request(params (string Name, string Value)[] headers)
    {
        var context = new DefaultHttpContext();
        foreach (var (name, value) in headers)
        {
            context.Request.Headers[name] = value;
        }

        return context;
    }

    private static string Jwt(string subject, string nonce)
    {
        static string Part(string json) => Convert.ToBase64String(Encoding.UTF8.GetBytes(json)).TrimEnd('=').Replace('+', '-').Replace('/', '_');
        return Part("""{"alg":"none"}""") + "." + Part($$"""{"sub":"{{subject}}","jti":"{{nonce}}"}""") + ".sig";
    }
}
