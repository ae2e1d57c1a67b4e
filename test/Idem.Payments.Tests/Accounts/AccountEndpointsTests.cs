using System.Net;
using System.Net.Http.Headers;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Accounts;

public abstract class AccountEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : AccountEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : AccountEndpointsTests(server);

    [Fact]
    public async Task CreateAccount_KnownCurrency_Returns201WithLocationAndZeroBalance()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostAsync("/v1/accounts", """{"currency":"EUR"}""");

        var account = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        var id = account.GetProperty("id").GetString()!;
        Assert.Matches("^acct_[0-9A-Za-z]{24}$", id);
        Assert.Equal("EUR", account.GetProperty("currency").GetString());
        Assert.Equal(0, account.GetProperty("balance").GetInt64());
        Assert.Equal(1, account.GetProperty("version").GetInt64());
        Assert.True(account.TryGetProperty("created_at", out _));
        Assert.Equal($"/v1/accounts/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task CreateAccount_LowercaseCurrency_StoresIsoCode()
    {
        var tenant = server.NewTenant();

        var account = await tenant.CreateAccountAsync("jpy");

        Assert.Equal("JPY", account.GetProperty("currency").GetString());
    }

    [Fact]
    public async Task GetAccount_Existing_Returns200WithQuotedVersionETag()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();

        using var response = await tenant.GetAsync($"/v1/accounts/{id}");

        var account = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal(id, account.GetProperty("id").GetString());
        Assert.Equal("\"1\"", response.Headers.ETag?.ToString());
    }

    [Fact]
    public async Task GetAccount_AfterDeposit_ETagFollowsVersion()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(id, 500);

        using var response = await tenant.GetAsync($"/v1/accounts/{id}");

        var account = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal(2, account.GetProperty("version").GetInt64());
        Assert.Equal(500, account.GetProperty("balance").GetInt64());
        Assert.Equal("\"2\"", response.Headers.ETag?.ToString());
    }

    [Fact]
    public async Task GetAccount_IfNoneMatchCurrentETag_Returns304()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/accounts/{id}");
        request.Headers.IfNoneMatch.Add(new EntityTagHeaderValue("\"1\""));

        using var response = await tenant.SendAsync(request);

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Equal("\"1\"", response.Headers.ETag?.ToString());
    }

    [Fact]
    public async Task GetAccount_Unknown_Returns404Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync("/v1/accounts/acct_doesnotexist000000000000");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found");
    }

    [Fact]
    public async Task ListEntries_SeveralPages_NewestFirstWithCursor()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        for (var amount = 1; amount <= 5; amount++)
        {
            await tenant.DepositAsync(id, amount);
        }

        var amounts = new List<long>();
        string? cursor = null;
        var pages = 0;
        do
        {
            using var response = await tenant.GetAsync($"/v1/accounts/{id}/entries?limit=2" + (cursor is null ? "" : "&starting_after=" + cursor));
            var page = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
            foreach (var entry in page.GetProperty("data").EnumerateArray())
            {
                Assert.Equal(id, entry.GetProperty("account").GetString());
                Assert.Equal("deposit", entry.GetProperty("type").GetString());
                Assert.StartsWith("dep_", entry.GetProperty("movement").GetString(), StringComparison.Ordinal);
                Assert.StartsWith("ent_", entry.GetProperty("id").GetString(), StringComparison.Ordinal);
                amounts.Add(entry.GetProperty("amount").GetInt64());
            }

            cursor = page.GetProperty("has_more").GetBoolean() ? page.GetProperty("next_cursor").GetString() : null;
            pages++;
        }
        while (cursor is not null);

        Assert.Equal(3, pages);
        Assert.Equal([5, 4, 3, 2, 1], amounts);
    }

    [Theory]
    [InlineData("?limit=0")]
    [InlineData("?limit=101")]
    [InlineData("?limit=abc")]
    [InlineData("?starting_after=ent_unknown")]
    public async Task ListEntries_BadPaging_Returns400Problem(string query)
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();

        using var response = await tenant.GetAsync($"/v1/accounts/{id}/entries{query}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task Healthz_NoApiKey_Returns200()
    {
        using var response = await server.Http.GetAsync("/healthz");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task UnknownRoute_Authenticated_Returns404Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync("/v1/nothing-here");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "urn:idem:payments:problem:no-such-endpoint");
    }
}
