using System.Net;
using Idem.Payments.Tests.Holds;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Accounts;

public abstract class LimitsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : LimitsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : LimitsTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Overdraft_LetsTheAccountGoBelowZero_UpToItsLimit()
    {
        var tenant = server.NewTenant();
        var overdrawn = await OpenAsync(tenant, """{"currency":"USD","overdraft_limit":500}""");
        var other = await tenant.CreateAccountIdAsync();
        Assert.Equal(500, overdrawn.Limits.GetProperty("overdraft_limit").GetInt64());

        using var first = await tenant.TransferAsync(overdrawn.Id, other, 400);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);
        using var second = await tenant.TransferAsync(overdrawn.Id, other, 101);
        await ProblemAssert.IsProblemAsync(second, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");

        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(overdrawn.Id), posted: -400, pending: -400, available: 100);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Cap_RefusesWhatWouldTakeTheAccountPastIt_PromisedMoneyCounted()
    {
        var tenant = server.NewTenant();
        var wallet = await OpenAsync(tenant, """{"currency":"USD","max_balance":1000}""");
        var source = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(source, 5_000);

        using (var deposit = await tenant.PostAsync($"/v1/accounts/{wallet.Id}/deposits", """{"amount":1001}"""))
        {
            await ProblemAssert.IsProblemAsync(deposit, HttpStatusCode.UnprocessableEntity, Problem + "balance-limit-exceeded");
        }

        await tenant.DepositAsync(wallet.Id, 600);
        using (var hold = await HoldEndpointsTests.PostHoldAsync(tenant, source, wallet.Id, 300))
        {
            Assert.Equal(HttpStatusCode.Created, hold.StatusCode);
        }

        // 600 posted and 300 promised leave room for 100.
        using (var transfer = await tenant.TransferAsync(source, wallet.Id, 101))
        {
            await ProblemAssert.IsProblemAsync(transfer, HttpStatusCode.UnprocessableEntity, Problem + "balance-limit-exceeded");
        }

        using (var fits = await tenant.TransferAsync(source, wallet.Id, 100))
        {
            Assert.Equal(HttpStatusCode.Created, fits.StatusCode);
        }

        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(wallet.Id), posted: 700, pending: 1_000, available: 700);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Limits_OverdraftAndHoldsTogether_AvailableIsWhatCanBeSpent()
    {
        var tenant = server.NewTenant();
        var account = await OpenAsync(tenant, """{"currency":"USD","overdraft_limit":200}""");
        var other = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(account.Id, 100);

        using (var hold = await HoldEndpointsTests.PostHoldAsync(tenant, account.Id, other, 250))
        {
            Assert.Equal(HttpStatusCode.Created, hold.StatusCode);
        }

        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(account.Id), posted: 100, pending: -150, available: 50);
        using (var tooMuch = await tenant.TransferAsync(account.Id, other, 51))
        {
            await ProblemAssert.IsProblemAsync(tooMuch, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");
        }

        using var fits = await tenant.TransferAsync(account.Id, other, 50);
        Assert.Equal(HttpStatusCode.Created, fits.StatusCode);
        await tenant.AssertAuditCleanAsync();
    }

    [Theory]
    [InlineData("""{"currency":"USD","overdraft_limit":-1}""", "overdraft_limit")]
    [InlineData("""{"currency":"USD","overdraft_limit":1000000000000000001}""", "overdraft_limit")]
    [InlineData("""{"currency":"USD","max_balance":-5}""", "max_balance")]
    public async Task Open_InvalidLimit_Is400NamingIt_AndOpensNothing(string body, string member)
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostAsync("/v1/accounts", body);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        Assert.True(problem.GetProperty("errors").TryGetProperty(member, out _), problem.GetRawText());
        Assert.Equal(0, (await server.Probe.SnapshotAsync(tenant.TenantId)).Accounts);
    }

    [Fact]
    public async Task Open_LimitNotANumber_Is400Malformed()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostAsync("/v1/accounts", """{"currency":"USD","max_balance":"lots"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "malformed-request");
    }

    private static async Task<(string Id, System.Text.Json.JsonElement Limits)> OpenAsync(TenantClient tenant, string body)
    {
        using var response = await tenant.PostAsync("/v1/accounts", body);
        var account = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        return (account.GetProperty("id").GetString()!, account.GetProperty("limits"));
    }
}
