using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.IdempotencyKeys;

/// <summary><c>GET /v1/idempotency-keys/{key}</c>: the caller's record for a key, read through Idem's store.</summary>
public abstract class IdempotencyKeyEndpointTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : IdempotencyKeyEndpointTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : IdempotencyKeyEndpointTests(server);

    private const string NotFound = "urn:idem:payments:problem:idempotency-key-not-found";

    [Fact]
    public async Task Get_AfterTransfer_ShowsTheCompletedRecordWithoutItsBody()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 100);
        var key = TenantClient.NewKey();
        (await tenant.TransferAsync(from, to, 40, idempotencyKey: key)).Dispose();

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{key}");

        var record = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal(
            ["created_at", "expires_at", "key", "method", "recovery_point", "response_status", "route", "state"],
            record.EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal));
        Assert.Equal(key, record.GetProperty("key").GetString());
        Assert.Equal("POST", record.GetProperty("method").GetString());
        Assert.Equal("/v1/transfers", record.GetProperty("route").GetString());
        Assert.Equal("completed", record.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, record.GetProperty("recovery_point").ValueKind);
        Assert.Equal(201, record.GetProperty("response_status").GetInt32());

        // Kept for the default retention (24 hours) from when it completed, on the store's clock.
        var kept = record.GetProperty("expires_at").GetDateTime() - record.GetProperty("created_at").GetDateTime();
        Assert.InRange(kept, TimeSpan.FromHours(24), TimeSpan.FromHours(24) + TimeSpan.FromMinutes(5));
    }

    [Fact]
    public async Task Get_KeyOfARefusedTransfer_ShowsItsStoredStatus()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        (await tenant.TransferAsync(from, to, 40, idempotencyKey: key)).Dispose();

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{key}");

        var record = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("completed", record.GetProperty("state").GetString());
        Assert.Equal(422, record.GetProperty("response_status").GetInt32());
    }

    [Fact]
    public async Task Get_KeyUsedOnTwoEndpoints_ShowsTheNewestUse()
    {
        var tenant = server.NewTenant();
        var key = TenantClient.NewKey();
        using (var account = await tenant.PostAsync("/v1/accounts", """{"currency":"USD"}""", key))
        {
            var id = (await TenantClient.ReadJsonAsync(account, HttpStatusCode.Created)).GetProperty("id").GetString();
            (await tenant.PostAsync($"/v1/accounts/{id}/deposits", """{"amount":5}""", key)).Dispose();
        }

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{key}");

        var record = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("/v1/accounts/{id}/deposits", record.GetProperty("route").GetString());
    }

    [Fact]
    public async Task Get_UnusedKey_Returns404Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{TenantClient.NewKey()}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, NotFound);
    }

    [Fact]
    public async Task Get_AnotherTenantsKey_Returns404Problem()
    {
        var owner = server.NewTenant();
        var other = server.NewTenant();
        var key = TenantClient.NewKey();
        (await owner.PostAsync("/v1/accounts", """{"currency":"USD"}""", key)).Dispose();

        using var response = await other.GetAsync($"/v1/idempotency-keys/{key}");
        using var own = await owner.GetAsync($"/v1/idempotency-keys/{key}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, NotFound);
        Assert.Equal(HttpStatusCode.OK, own.StatusCode);
    }

    [Theory]
    [InlineData("%C3%A9t%C3%A9")]
    [InlineData("a%20b")]
    [InlineData("\"unterminated")]
    public async Task Get_NotAKey_Returns400Problem(string key)
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{key}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:payments:problem:invalid-request");
    }

    [Fact]
    public async Task Get_KeyTooLong_Returns400Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync($"/v1/idempotency-keys/{new string('k', 256)}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:payments:problem:invalid-request");
    }
}
