using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Web;

/// <summary>
/// Every bad input gets a 4xx problem+json, never a 500, and changes nothing: the tenant's (and a neighbour's) accounts,
/// balances, versions, movements and entries are exactly as before.
/// </summary>
public abstract class BadRequestTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : BadRequestTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : BadRequestTests(server);

    private const string Malformed = "urn:idem:payments:problem:malformed-request";
    private const string Invalid = "urn:idem:payments:problem:invalid-request";
    private const string NotFound = "urn:idem:payments:problem:account-not-found";
    private const string Mismatch = "urn:idem:payments:problem:currency-mismatch";
    private const string Insufficient = "urn:idem:payments:problem:insufficient-funds";
    private const string Json = "application/json";

    // Placeholders: {usd} a funded USD account, {usd2} an empty USD account, {eur} a funded EUR account,
    // {foreign} another tenant's funded USD account.
    public static TheoryData<string, string, string, string, int, string> Cases => new()
    {
        { "accounts: truncated JSON", "/v1/accounts", """{"currency":""", Json, 400, Malformed },
        { "accounts: not JSON", "/v1/accounts", "currency=USD", Json, 400, Malformed },
        { "accounts: currency is a number", "/v1/accounts", """{"currency":5}""", Json, 400, Malformed },
        { "accounts: unknown member", "/v1/accounts", """{"currency":"USD","colour":"red"}""", Json, 400, Malformed },
        { "accounts: repeated member", "/v1/accounts", """{"currency":"USD","currency":"EUR"}""", Json, 400, Malformed },
        { "accounts: JSON null", "/v1/accounts", "null", Json, 400, Malformed },
        { "accounts: JSON array", "/v1/accounts", "[]", Json, 400, Malformed },
        { "accounts: empty body", "/v1/accounts", "", Json, 400, Malformed },
        { "accounts: form body", "/v1/accounts", "currency=USD", "application/x-www-form-urlencoded", 415, "urn:idem:payments:problem:unsupported-media-type" },
        { "accounts: missing currency", "/v1/accounts", "{}", Json, 400, Invalid },
        { "accounts: null currency", "/v1/accounts", """{"currency":null}""", Json, 400, Invalid },
        { "accounts: unknown currency", "/v1/accounts", """{"currency":"XYZ"}""", Json, 400, Invalid },
        { "accounts: currency too long", "/v1/accounts", """{"currency":"USDX"}""", Json, 400, Invalid },

        { "deposit: fractional amount", "/v1/accounts/{usd}/deposits", """{"amount":10.5}""", Json, 400, Malformed },
        { "deposit: exponent amount", "/v1/accounts/{usd}/deposits", """{"amount":1e3}""", Json, 400, Malformed },
        { "deposit: amount as string", "/v1/accounts/{usd}/deposits", """{"amount":"100"}""", Json, 400, Malformed },
        { "deposit: amount as bool", "/v1/accounts/{usd}/deposits", """{"amount":true}""", Json, 400, Malformed },
        { "deposit: amount past Int64", "/v1/accounts/{usd}/deposits", """{"amount":9223372036854775808}""", Json, 400, Malformed },
        { "deposit: huge amount", "/v1/accounts/{usd}/deposits", """{"amount":99999999999999999999999999}""", Json, 400, Malformed },
        { "deposit: negative amount", "/v1/accounts/{usd}/deposits", """{"amount":-1}""", Json, 400, Invalid },
        { "deposit: zero amount", "/v1/accounts/{usd}/deposits", """{"amount":0}""", Json, 400, Invalid },
        { "deposit: amount over the maximum", "/v1/accounts/{usd}/deposits", """{"amount":1000000000000001}""", Json, 400, Invalid },
        { "deposit: Int64 max", "/v1/accounts/{usd}/deposits", """{"amount":9223372036854775807}""", Json, 400, Invalid },
        { "deposit: missing amount", "/v1/accounts/{usd}/deposits", "{}", Json, 400, Invalid },
        { "deposit: unknown account", "/v1/accounts/acct_000000000000000000000000/deposits", """{"amount":1}""", Json, 404, NotFound },
        { "deposit: another tenant's account", "/v1/accounts/{foreign}/deposits", """{"amount":1}""", Json, 404, NotFound },

        { "transfer: missing from_account", "/v1/transfers", """{"to_account":"{usd2}","amount":1,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: missing to_account", "/v1/transfers", """{"from_account":"{usd}","amount":1,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: missing amount", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","currency":"USD"}""", Json, 400, Invalid },
        { "transfer: missing currency", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":1}""", Json, 400, Invalid },
        { "transfer: unknown currency", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"ABC"}""", Json, 400, Invalid },
        { "transfer: to itself", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd}","amount":1,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: negative amount", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":-5,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: zero amount", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":0,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: amount over the maximum", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":1000000000000001,"currency":"USD"}""", Json, 400, Invalid },
        { "transfer: fractional amount", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":0.5,"currency":"USD"}""", Json, 400, Malformed },
        { "transfer: overflowing amount", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":18446744073709551616,"currency":"USD"}""", Json, 400, Malformed },
        { "transfer: account id as number", "/v1/transfers", """{"from_account":1,"to_account":"{usd2}","amount":1,"currency":"USD"}""", Json, 400, Malformed },
        { "transfer: unknown from_account", "/v1/transfers", """{"from_account":"acct_000000000000000000000000","to_account":"{usd2}","amount":1,"currency":"USD"}""", Json, 404, NotFound },
        { "transfer: unknown to_account", "/v1/transfers", """{"from_account":"{usd}","to_account":"acct_nope","amount":1,"currency":"USD"}""", Json, 404, NotFound },
        { "transfer: from another tenant's account", "/v1/transfers", """{"from_account":"{foreign}","to_account":"{usd2}","amount":1,"currency":"USD"}""", Json, 404, NotFound },
        { "transfer: to another tenant's account", "/v1/transfers", """{"from_account":"{usd}","to_account":"{foreign}","amount":1,"currency":"USD"}""", Json, 404, NotFound },
        { "transfer: accounts in different currencies", "/v1/transfers", """{"from_account":"{usd}","to_account":"{eur}","amount":1,"currency":"USD"}""", Json, 422, Mismatch },
        { "transfer: currency not the accounts'", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"EUR"}""", Json, 422, Mismatch },
        { "transfer: insufficient funds", "/v1/transfers", """{"from_account":"{usd2}","to_account":"{usd}","amount":1,"currency":"USD"}""", Json, 422, Insufficient },
        { "transfer: one more than the balance", "/v1/transfers", """{"from_account":"{usd}","to_account":"{usd2}","amount":1001,"currency":"USD"}""", Json, 422, Insufficient },
    };

    [Theory]
    [MemberData(nameof(Cases), MemberType = typeof(BadRequestTests))]
    public async Task Post_BadInput_ReturnsProblemAndWritesNothing(string scenario, string path, string body, string contentType, int status, string type)
    {
        var tenant = server.NewTenant();
        var neighbour = server.NewTenant();
        var usd = await tenant.CreateAccountIdAsync("USD");
        var usd2 = await tenant.CreateAccountIdAsync("USD");
        var eur = await tenant.CreateAccountIdAsync("EUR");
        var foreign = await neighbour.CreateAccountIdAsync("USD");
        await tenant.DepositAsync(usd, 1_000);
        await tenant.DepositAsync(eur, 1_000);
        await neighbour.DepositAsync(foreign, 1_000);
        string Fill(string text) => text.Replace("{usd}", usd, StringComparison.Ordinal).Replace("{usd2}", usd2, StringComparison.Ordinal)
            .Replace("{eur}", eur, StringComparison.Ordinal).Replace("{foreign}", foreign, StringComparison.Ordinal);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);
        var neighbourBefore = await server.Probe.SnapshotAsync(neighbour.TenantId);

        using var response = await tenant.PostAsync(Fill(path), Fill(body), contentType: contentType);

        var problem = await ProblemAssert.IsProblemAsync(response, (HttpStatusCode)status, type);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()), scenario);
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(neighbourBefore, await server.Probe.SnapshotAsync(neighbour.TenantId));
        Assert.Equal(1_000, await tenant.BalanceAsync(usd));
        Assert.Equal(0, await tenant.BalanceAsync(usd2));
    }

    [Fact]
    public async Task Post_InvalidMembers_NamesEachInErrors()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostAsync("/v1/transfers", """{"amount":-1,"currency":"XXX"}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Invalid);
        var errors = problem.GetProperty("errors");
        Assert.Equal(["amount", "currency", "from_account", "to_account"], errors.EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("""{"currency":""")]
    [InlineData("""{"currency":7}""")]
    [InlineData("""{"currency":"USD","extra":true}""")]
    [InlineData("")]
    public async Task Post_UnreadableBody_StoresNoIdempotencyRecord(string body)
    {
        var tenant = server.NewTenant();
        var key = TenantClient.NewKey();
        using var bad = await tenant.PostAsync("/v1/accounts", body, key);
        await ProblemAssert.IsProblemAsync(bad, HttpStatusCode.BadRequest, Malformed);

        // Were anything stored for the key, this would be a replay of the 400 or a 422 key mismatch.
        using var good = await tenant.PostAsync("/v1/accounts", """{"currency":"USD"}""", key);

        Assert.Equal(HttpStatusCode.Created, good.StatusCode);
        Assert.False(good.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, (await server.Probe.SnapshotAsync(tenant.TenantId)).Accounts);
    }

    [Fact]
    public async Task Post_InvalidAmountRetriedWithSameKey_ReplaysStored400()
    {
        // The handler ran and answered, so its 4xx is the request's outcome (BEHAVIOUR §5), like any other.
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using var first = await tenant.PostAsync($"/v1/accounts/{id}/deposits", """{"amount":0}""", key);

        using var retry = await tenant.PostAsync($"/v1/accounts/{id}/deposits", """{"amount":0}""", key);

        await ProblemAssert.IsProblemAsync(retry, HttpStatusCode.BadRequest, Invalid);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await retry.Content.ReadAsByteArrayAsync());
    }
}
