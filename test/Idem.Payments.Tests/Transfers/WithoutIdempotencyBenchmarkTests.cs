using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Transfers;

/// <summary>
/// The benchmark switch <c>Benchmark:TransfersWithoutIdempotency</c>: the same transfer, in its own transaction, with no
/// key. The load generator measures Idem's cost against it, so it must be exactly that: each request moves money (a
/// repeated key too: nothing is deduplicated), and the ledger stays consistent.
/// </summary>
public sealed class WithoutIdempotencyBenchmarkTests(SqliteWithoutIdempotencyServer server) : IClassFixture<SqliteWithoutIdempotencyServer>
{
    [Fact]
    public async Task Transfers_SameKeyTwice_BothApplied()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 1_000);
        var key = TenantClient.NewKey();

        using var first = await tenant.TransferAsync(from, to, 100, idempotencyKey: key);
        using var second = await tenant.TransferAsync(from, to, 100, idempotencyKey: key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.False(second.Headers.Contains("Idempotent-Replayed"));
        Assert.NotEqual(await IdOfAsync(first), await IdOfAsync(second));
        Assert.Equal(800, await tenant.BalanceAsync(from));
        Assert.Equal(200, await tenant.BalanceAsync(to));
        await tenant.AssertAuditCleanAsync();
    }

    private static async Task<string?> IdOfAsync(HttpResponseMessage response)
        => JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("id").GetString();

    [Fact]
    public async Task Transfer_InsufficientFunds_RefusedAndNothingWritten()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 50);

        using var refused = await tenant.TransferAsync(from, to, 100, idempotencyKey: TenantClient.NewKey());

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal(50, await tenant.BalanceAsync(from));
        Assert.Equal(0, await tenant.BalanceAsync(to));
        await tenant.AssertAuditCleanAsync();
    }
}
