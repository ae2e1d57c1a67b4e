using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Holds;

public abstract class HoldEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : HoldEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : HoldEndpointsTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Create_ReservesOnOneAccountAndPromisesToTheOther_WithoutPosting()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);

        var hold = await CreateHoldAsync(tenant, from, to, 300);

        Assert.Equal("pending", hold.GetProperty("status").GetString());
        Assert.Equal(300, hold.GetProperty("amount").GetInt64());
        Assert.Equal(0, hold.GetProperty("captured_amount").GetInt64());
        Assert.True(hold.GetProperty("expires_at").GetDateTime() > DateTime.UtcNow.AddHours(23), "one day by default");
        AssertBalances(await tenant.GetAccountAsync(from), posted: 1_000, pending: 700, available: 700);
        AssertBalances(await tenant.GetAccountAsync(to), posted: 0, pending: 300, available: 0);
        Assert.Equal(0, await server.Probe.EntryCountAsync(to));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task HeldMoney_CannotBeSpent_ByTransferOrAnotherHold()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        await CreateHoldAsync(tenant, from, to, 700);

        using var transfer = await tenant.TransferAsync(from, to, 301);
        await ProblemAssert.IsProblemAsync(transfer, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");
        using var second = await PostHoldAsync(tenant, from, to, 301);
        await ProblemAssert.IsProblemAsync(second, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");
        using var fits = await tenant.TransferAsync(from, to, 300);
        Assert.Equal(HttpStatusCode.Created, fits.StatusCode);

        AssertBalances(await tenant.GetAccountAsync(from), posted: 700, pending: 0, available: 0);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Capture_Part_MovesItAndReleasesTheRest_AndReplays()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var id = (await CreateHoldAsync(tenant, from, to, 300)).GetProperty("id").GetString()!;
        var key = TenantClient.NewKey();

        using var response = await tenant.PostAsync($"/v1/holds/{id}/capture", """{"amount":200}""", key);
        var captured = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        using var replay = await tenant.PostAsync($"/v1/holds/{id}/capture", """{"amount":200}""", key);

        Assert.Equal("captured", captured.GetProperty("status").GetString());
        Assert.Equal(200, captured.GetProperty("captured_amount").GetInt64());
        Assert.Equal(captured.GetRawText(), (await TenantClient.ReadJsonAsync(replay, HttpStatusCode.OK)).GetRawText());
        Assert.True(replay.Headers.Contains("Idempotent-Replayed"));
        AssertBalances(await tenant.GetAccountAsync(from), posted: 800, pending: 800, available: 800);
        AssertBalances(await tenant.GetAccountAsync(to), posted: 200, pending: 200, available: 200);
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t AND movement_type = 'hold_capture'", id));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Capture_WithoutBody_CapturesAll()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var id = (await CreateHoldAsync(tenant, from, to, 300)).GetProperty("id").GetString()!;

        var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/holds/{id}/capture");
        request.Headers.Add("Idempotency-Key", TenantClient.NewKey());
        using var response = await tenant.SendAsync(request);

        Assert.Equal(300, (await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK)).GetProperty("captured_amount").GetInt64());
        Assert.Equal(300, await tenant.BalanceAsync(to));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Void_ReleasesEverything_ThenNeitherCaptureNorVoidApplies()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var id = (await CreateHoldAsync(tenant, from, to, 300)).GetProperty("id").GetString()!;

        using var voided = await tenant.PostAsync($"/v1/holds/{id}/void", "{}");
        Assert.Equal("voided", (await TenantClient.ReadJsonAsync(voided, HttpStatusCode.OK)).GetProperty("status").GetString());
        using var capture = await tenant.PostAsync($"/v1/holds/{id}/capture", "{}");
        var problem = await ProblemAssert.IsProblemAsync(capture, HttpStatusCode.Conflict, Problem + "hold-not-pending");
        Assert.Equal("voided", problem.GetProperty("hold_status").GetString());
        using var again = await tenant.PostAsync($"/v1/holds/{id}/void", "{}");
        await ProblemAssert.IsProblemAsync(again, HttpStatusCode.Conflict, Problem + "hold-not-pending");

        AssertBalances(await tenant.GetAccountAsync(from), posted: 1_000, pending: 1_000, available: 1_000);
        AssertBalances(await tenant.GetAccountAsync(to), posted: 0, pending: 0, available: 0);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Hold_ExpiresByTheDatabaseClock_AndIsReleased()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var id = (await CreateHoldAsync(tenant, from, to, 300, expiresIn: 1)).GetProperty("id").GetString()!;

        // The service's expirer looks every second; the hold's status moves on its own.
        var status = "pending";
        for (var i = 0; i < 100 && status == "pending"; i++)
        {
            await Task.Delay(100);
            using var read = await tenant.GetAsync($"/v1/holds/{id}");
            status = (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetProperty("status").GetString();
        }

        Assert.Equal("expired", status);
        AssertBalances(await tenant.GetAccountAsync(from), posted: 1_000, pending: 1_000, available: 1_000);
        using var capture = await tenant.PostAsync($"/v1/holds/{id}/capture", "{}");
        Assert.Equal("expired", (await ProblemAssert.IsProblemAsync(capture, HttpStatusCode.Conflict, Problem + "hold-not-pending")).GetProperty("hold_status").GetString());
        await tenant.AssertAuditCleanAsync();
    }

    [Theory]
    [InlineData("""{"to_account":"T","amount":1,"currency":"USD"}""", "from_account")]
    [InlineData("""{"from_account":"F","amount":1,"currency":"USD"}""", "to_account")]
    [InlineData("""{"from_account":"F","to_account":"T","currency":"USD"}""", "amount")]
    [InlineData("""{"from_account":"F","to_account":"T","amount":0,"currency":"USD"}""", "amount")]
    [InlineData("""{"from_account":"F","to_account":"T","amount":1,"currency":"US"}""", "currency")]
    [InlineData("""{"from_account":"F","to_account":"T","amount":1,"currency":"USD","expires_in":0}""", "expires_in")]
    [InlineData("""{"from_account":"F","to_account":"T","amount":1,"currency":"USD","expires_in":2592001}""", "expires_in")]
    [InlineData("""{"from_account":"F","to_account":"F","amount":1,"currency":"USD"}""", "to_account")]
    public async Task Create_InvalidRequest_Is400NamingTheMember_AndWritesNothing(string template, string member)
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.PostAsync("/v1/holds", template.Replace("\"F\"", $"\"{from}\"").Replace("\"T\"", $"\"{to}\""));

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        Assert.True(problem.GetProperty("errors").TryGetProperty(member, out _), problem.GetRawText());
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(0, await HoldCountAsync(tenant));
    }

    [Fact]
    public async Task Create_RefusedByTheLedger_WritesNothing()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var euro = await tenant.CreateAccountIdAsync("EUR");
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using (var missing = await PostHoldAsync(tenant, from, "acct_missing", 1))
        {
            await ProblemAssert.IsProblemAsync(missing, HttpStatusCode.NotFound, Problem + "account-not-found");
        }

        using (var currency = await PostHoldAsync(tenant, from, euro, 1))
        {
            await ProblemAssert.IsProblemAsync(currency, HttpStatusCode.UnprocessableEntity, Problem + "currency-mismatch");
        }

        using (var tooMuch = await PostHoldAsync(tenant, from, to, 1_001))
        {
            await ProblemAssert.IsProblemAsync(tooMuch, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");
        }

        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(0, await HoldCountAsync(tenant));
    }

    [Fact]
    public async Task Capture_BadRequests_AreProblems_AndChangeNothing()
    {
        var (tenant, from, to) = await FundedPairAsync(1_000);
        var id = (await CreateHoldAsync(tenant, from, to, 300)).GetProperty("id").GetString()!;
        var other = server.NewTenant();
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using (var zero = await tenant.PostAsync($"/v1/holds/{id}/capture", """{"amount":0}"""))
        {
            await ProblemAssert.IsProblemAsync(zero, HttpStatusCode.BadRequest, Problem + "invalid-request");
        }

        using (var text = await tenant.PostAsync($"/v1/holds/{id}/capture", """{"amount":"all"}"""))
        {
            await ProblemAssert.IsProblemAsync(text, HttpStatusCode.BadRequest, Problem + "malformed-request");
        }

        using (var above = await tenant.PostAsync($"/v1/holds/{id}/capture", """{"amount":301}"""))
        {
            await ProblemAssert.IsProblemAsync(above, HttpStatusCode.UnprocessableEntity, Problem + "capture-exceeds-hold");
        }

        using (var unknown = await tenant.PostAsync("/v1/holds/hold_missing/capture", "{}"))
        {
            await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound, Problem + "hold-not-found");
        }

        using (var foreign = await other.PostAsync($"/v1/holds/{id}/capture", "{}"))
        {
            await ProblemAssert.IsProblemAsync(foreign, HttpStatusCode.NotFound, Problem + "hold-not-found");
        }

        using (var foreignRead = await other.GetAsync($"/v1/holds/{id}"))
        {
            await ProblemAssert.IsProblemAsync(foreignRead, HttpStatusCode.NotFound, Problem + "hold-not-found");
        }

        using (var noKey = await tenant.SendAsync(new HttpRequestMessage(HttpMethod.Post, $"/v1/holds/{id}/void")))
        {
            await ProblemAssert.IsProblemAsync(noKey, HttpStatusCode.BadRequest);
        }

        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        using var read = await tenant.GetAsync($"/v1/holds/{id}");
        Assert.Equal("pending", (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetProperty("status").GetString());
    }

    internal static async Task<(TenantClient Tenant, string From, string To)> FundedPairAsync(PaymentsServer server, long funds)
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, funds);
        return (tenant, from, to);
    }

    internal static Task<HttpResponseMessage> PostHoldAsync(TenantClient tenant, string from, string to, long amount, long? expiresIn = null, string? key = null)
        => tenant.PostAsync("/v1/holds",
            $$"""{"from_account":"{{from}}","to_account":"{{to}}","amount":{{amount}},"currency":"USD"{{(expiresIn is { } s ? $",\"expires_in\":{s}" : "")}}}""", key);

    internal static async Task<JsonElement> CreateHoldAsync(TenantClient tenant, string from, string to, long amount, long? expiresIn = null)
    {
        using var response = await PostHoldAsync(tenant, from, to, amount, expiresIn);
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
    }

    internal static void AssertBalances(JsonElement account, long posted, long pending, long available)
    {
        var balances = account.GetProperty("balances");
        Assert.Equal(posted, account.GetProperty("balance").GetInt64());
        Assert.Equal(posted, balances.GetProperty("posted").GetInt64());
        Assert.Equal(pending, balances.GetProperty("pending").GetInt64());
        Assert.Equal(available, balances.GetProperty("available").GetInt64());
    }

    private Task<(TenantClient Tenant, string From, string To)> FundedPairAsync(long funds) => FundedPairAsync(server, funds);

    private Task<long> HoldCountAsync(TenantClient tenant) => server.Probe.CountAsync("SELECT COUNT(*) FROM holds WHERE tenant_id = @t", tenant.TenantId);
}
