using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Auth;

public abstract class TenantIsolationTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : TenantIsolationTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : TenantIsolationTests(server);

    [Fact]
    public async Task Get_OtherTenantsAccount_Returns404()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        var id = await a.CreateAccountIdAsync();
        await a.DepositAsync(id, 10);

        using var account = await b.GetAsync($"/v1/accounts/{id}");
        using var entries = await b.GetAsync($"/v1/accounts/{id}/entries");

        await ProblemAssert.IsProblemAsync(account, HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found");
        await ProblemAssert.IsProblemAsync(entries, HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found");
    }

    [Fact]
    public async Task GetTransfer_OtherTenants_Returns404()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        var from = await a.CreateAccountIdAsync();
        var to = await a.CreateAccountIdAsync();
        await a.DepositAsync(from, 10);
        using var created = await a.TransferAsync(from, to, 5);
        var transfer = await TenantClient.ReadJsonAsync(created, HttpStatusCode.Created);

        using var response = await b.GetAsync($"/v1/transfers/{transfer.GetProperty("id").GetString()}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task CreateAccount_OtherTenantReusesKey_GetsItsOwnAccount()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        var key = TenantClient.NewKey();
        using var first = await a.PostAsync("/v1/accounts", """{"currency":"USD"}""", key);
        var accountA = await TenantClient.ReadJsonAsync(first, HttpStatusCode.Created);

        using var second = await b.PostAsync("/v1/accounts", """{"currency":"USD"}""", key);

        var accountB = await TenantClient.ReadJsonAsync(second, HttpStatusCode.Created);
        Assert.False(second.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(accountA.GetProperty("id").GetString(), accountB.GetProperty("id").GetString());
        Assert.Equal(0, await b.BalanceAsync(accountB.GetProperty("id").GetString()!));
        Assert.Equal(1, (await server.Probe.SnapshotAsync(b.TenantId)).Accounts);
    }

    [Fact]
    public async Task Transfer_OtherTenantReusesKey_NeverSeesTheFirstResponse()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        var c = server.NewTenant();
        var a1 = await a.CreateAccountIdAsync();
        var a2 = await a.CreateAccountIdAsync();
        var b1 = await b.CreateAccountIdAsync();
        var b2 = await b.CreateAccountIdAsync();
        await a.DepositAsync(a1, 100);
        await b.DepositAsync(b1, 10);
        var key = TenantClient.NewKey();
        using var first = await a.TransferAsync(a1, a2, 60, idempotencyKey: key);
        var transferA = await TenantClient.ReadJsonAsync(first, HttpStatusCode.Created);

        // C sends A's exact request with A's key: it gets its own answer (C has no such accounts), never A's 201.
        using var copy = await c.TransferAsync(a1, a2, 60, idempotencyKey: key);
        // B's own transfer under the same key runs on B's ledger.
        using var own = await b.TransferAsync(b1, b2, 7, idempotencyKey: key);

        await ProblemAssert.IsProblemAsync(copy, HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found");
        Assert.False(copy.Headers.Contains("Idempotent-Replayed"));
        var transferB = await TenantClient.ReadJsonAsync(own, HttpStatusCode.Created);
        Assert.False(own.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(transferA.GetProperty("id").GetString(), transferB.GetProperty("id").GetString());
        Assert.Equal(b1, transferB.GetProperty("from_account").GetString());
        Assert.Equal(40, await a.BalanceAsync(a1));
        Assert.Equal(60, await a.BalanceAsync(a2));
        Assert.Equal(3, await b.BalanceAsync(b1));
        Assert.Equal(7, await b.BalanceAsync(b2));
    }

    [Fact]
    public async Task Transfer_IntoOtherTenantsAccount_Returns404AndMovesNothing()
    {
        var a = server.NewTenant();
        var b = server.NewTenant();
        var mine = await b.CreateAccountIdAsync();
        var theirs = await a.CreateAccountIdAsync();
        await b.DepositAsync(mine, 100);

        using var response = await b.TransferAsync(mine, theirs, 50);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound);
        Assert.Equal(100, await b.BalanceAsync(mine));
        Assert.Equal(0, await a.BalanceAsync(theirs));
    }
}
