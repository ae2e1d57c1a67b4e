using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// GET /v1/ledger/audit: clean after real operations, and naming the check and the row once the database or the
/// processor is broken on purpose. A server of its own, since these tests corrupt its database.
/// </summary>
public abstract class AuditEndpointTests(PaymentsServer server)
{
    public sealed class OnSqlite(SqlitePaymentsServer server) : AuditEndpointTests(server), IClassFixture<SqlitePaymentsServer>;

    public sealed class OnPostgres(PostgresPaymentsServer server) : AuditEndpointTests(server), IClassFixture<PostgresPaymentsServer>;

    [Fact]
    public async Task Audit_AfterMixOfOperations_IsClean()
    {
        var (tenant, _, _) = await MixAsync();

        var audit = await AuditAsync(tenant);

        Assert.True(audit.GetProperty("ok").GetBoolean(), audit.GetRawText());
        Assert.Equal(
            ["entries_sum_to_zero", "balances_match_entries", "balances_within_limits", "holds_match_pending", "holds_captured_once", "batches_complete", "refunds_within_payments", "payments_posted_once", "refunds_posted_once", "entry_chains_intact",
                "processor_charges_match_payments", "processor_refunds_match_refunds"],
            audit.GetProperty("checks").EnumerateArray().Select(c => c.GetProperty("name").GetString()));
        Assert.Equal(0, audit.GetProperty("unsettled_payments").GetInt32());
    }

    [Fact]
    public async Task Audit_BalanceChangedInDatabase_NamesCheckAndAccount()
    {
        var (tenant, account, _) = await MixAsync();

        Assert.Equal(1, await server.Writer.ExecuteAsync("UPDATE accounts SET balance = balance + 1 WHERE id = @t", account));
        var audit = await AuditAsync(tenant);

        Assert.False(audit.GetProperty("ok").GetBoolean());
        Assert.Equal([account], Failures(audit, "balances_match_entries"));
        Assert.Empty(Failures(audit, "entries_sum_to_zero"));
    }

    [Fact]
    public async Task Audit_PaymentEntryDeleted_NamesPaymentAndBrokenSums()
    {
        var (tenant, account, paymentId) = await MixAsync();

        Assert.Equal(1, await server.Writer.ExecuteAsync("DELETE FROM ledger_entries WHERE movement_id = @t AND amount > 0", paymentId));
        var audit = await AuditAsync(tenant);

        Assert.False(audit.GetProperty("ok").GetBoolean());
        Assert.Equal([paymentId], Failures(audit, "payments_posted_once"));
        Assert.Equal(["USD"], Failures(audit, "entries_sum_to_zero"));
        Assert.Contains(account, Failures(audit, "balances_match_entries"));
    }

    [Fact]
    public async Task Audit_RefundedAmountChanged_NamesPayment()
    {
        var (tenant, _, paymentId) = await MixAsync();

        Assert.Equal(1, await server.Writer.ExecuteAsync("UPDATE payments SET refunded = refunded + 1 WHERE id = @t", paymentId));
        var audit = await AuditAsync(tenant);

        Assert.Equal([paymentId], Failures(audit, "refunds_within_payments"));
    }

    [Fact]
    public async Task Audit_SecondChargeMadeAtProcessor_NamesPayment()
    {
        var (tenant, _, paymentId) = await MixAsync();
        using var processor = new ProcessorProbe(server.ProcessorAddress);

        // A charge the service never asked for, referring to the payment: the processor took the money twice.
        await processor.ChargeDirectlyAsync(paymentId, 1_000);
        var audit = await AuditAsync(tenant);

        Assert.False(audit.GetProperty("ok").GetBoolean());
        Assert.Equal([paymentId], Failures(audit, "processor_charges_match_payments"));
        Assert.Empty(Failures(audit, "payments_posted_once"));
    }

    // A succeeded payment of 1,000 partly refunded, a declined one, a transfer: returns the tenant, the merchant account and the payment.
    private async Task<(TenantClient Tenant, string Account, string PaymentId)> MixAsync()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var other = await tenant.CreateAccountIdAsync();
        var payment = (await tenant.PaySucceededAsync(account, 1_000)).GetProperty("id").GetString()!;
        using (var refund = await tenant.RefundAsync(payment, 250))
        {
            Assert.Equal(HttpStatusCode.Created, refund.StatusCode);
        }

        using (var declined = await tenant.PayAsync(account, 50, "tok_declined"))
        {
            Assert.Equal(HttpStatusCode.PaymentRequired, declined.StatusCode);
        }

        using (var transfer = await tenant.TransferAsync(account, other, 100))
        {
            Assert.Equal(HttpStatusCode.Created, transfer.StatusCode);
        }

        return (tenant, account, payment);
    }

    private static async Task<JsonElement> AuditAsync(TenantClient tenant)
    {
        using var response = await tenant.GetAsync("/v1/ledger/audit");
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
    }

    private static List<string?> Failures(JsonElement audit, string check)
    {
        var found = audit.GetProperty("checks").EnumerateArray().Single(c => c.GetProperty("name").GetString() == check);
        var failures = found.GetProperty("failures").EnumerateArray().Select(f => f.GetString()).ToList();
        Assert.Equal(failures.Count == 0, found.GetProperty("ok").GetBoolean());
        return failures;
    }
}
