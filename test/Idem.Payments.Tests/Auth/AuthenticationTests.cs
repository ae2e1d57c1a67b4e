using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Auth;

public abstract class AuthenticationTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : AuthenticationTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : AuthenticationTests(server);

    private const string Unauthenticated = "urn:idem:payments:problem:unauthenticated";

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer")]
    [InlineData("Bearer    ")]
    [InlineData("Basic dXNlcjpwYXNz")]
    [InlineData("sk_test_without_scheme")]
    public async Task Post_MissingOrEmptyApiKey_Returns401ProblemAndWritesNothing(string? authorization)
    {
        var before = await server.Probe.CountAsync("SELECT COUNT(*) FROM accounts");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/accounts")
        {
            Content = new StringContent("""{"currency":"USD"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", TenantClient.NewKey());
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }

        using var response = await server.Http.SendAsync(request);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, Unauthenticated);
        Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(before, await server.Probe.CountAsync("SELECT COUNT(*) FROM accounts"));
    }

    [Fact]
    public async Task Get_NoApiKey_Returns401Problem()
    {
        using var response = await server.Http.GetAsync("/v1/accounts/acct_x");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Unauthorized, Unauthenticated);
    }

    [Fact]
    public async Task Authenticate_SameKey_IsSameTenant()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        var sameKey = new TenantClient(server.Http, tenant.ApiKey);

        Assert.Equal(0, await sameKey.BalanceAsync(id));
    }

    [Fact]
    public void TenantId_IsHashOfKey_NeverTheKey()
    {
        var id = Payments.Auth.Tenants.FromApiKey("sk_live_secret");

        Assert.Matches("^ten_[0-9a-f]{32}$", id);
        Assert.DoesNotContain("secret", id, StringComparison.Ordinal);
        Assert.Equal(id, Payments.Auth.Tenants.FromApiKey("sk_live_secret"));
        Assert.NotEqual(id, Payments.Auth.Tenants.FromApiKey("sk_live_secret2"));
    }

    [Fact]
    public async Task Database_HoldsNoRawApiKey()
    {
        var tenant = server.NewTenant();
        await tenant.CreateAccountIdAsync();

        var rows = await server.Probe.CountAsync($"SELECT COUNT(*) FROM accounts WHERE tenant_id LIKE '%{tenant.ApiKey}%'");

        Assert.Equal(0, rows);
    }
}
