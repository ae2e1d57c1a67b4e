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
    [Fact]
    public async Task Audit_EntryChangedInDatabase_NamesTheEntry()
    {
        var (tenant, account, _) = await MixAsync();
        var refundEntry = await EntryIdAsync(account, "refund");

        // One field the other checks do not look at: only the hash can tell.
        Assert.Equal(1, await server.Writer.ExecuteAsync("UPDATE ledger_entries SET idempotency_key = 'forged' WHERE id = @t", refundEntry));
        var audit = await AuditAsync(tenant);

        Assert.False(audit.GetProperty("ok").GetBoolean());
        var broken = Failures(audit, "entry_chains_intact");
        Assert.Equal([$"{refundEntry}: its content does not match its hash: the entry was changed"], broken);
        Assert.Empty(Failures(audit, "balances_match_entries"));
    }

    [Fact]
    public async Task Audit_EntryDeletedFromTheMiddle_NamesWhereTheChainBreaks()
    {
        var (tenant, account, _) = await MixAsync();
        var paymentEntry = await EntryIdAsync(account, "payment");
        var refundEntry = await EntryIdAsync(account, "refund");
        var transferEntry = await EntryIdAsync(account, "transfer");

        Assert.Equal(1, await server.Writer.ExecuteAsync("DELETE FROM ledger_entries WHERE id = @t", refundEntry));
        var audit = await AuditAsync(tenant);

        Assert.Contains($"{transferEntry}: does not link to {paymentEntry}, the entry before it: an entry between them was deleted, or {paymentEntry} was changed",
            Failures(audit, "entry_chains_intact"));
    }

    [Fact]
    public async Task Audit_NewestEntryDeleted_NamesTheAccount()
    {
        var (tenant, account, _) = await MixAsync();
        var transferEntry = await EntryIdAsync(account, "transfer");

        Assert.Equal(1, await server.Writer.ExecuteAsync("DELETE FROM ledger_entries WHERE id = @t", transferEntry));
        var audit = await AuditAsync(tenant);

        Assert.Contains($"{account}: its head is not its newest entry: the newest entry was deleted, or the head changed", Failures(audit, "entry_chains_intact"));
    }

    [Fact]
    public async Task Entries_CarryTheKeyAndFingerprintOfTheRequestThatMadeThem()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 500);
        var key = TenantClient.NewKey();

        using var transfer = await tenant.TransferAsync(from, to, 200, idempotencyKey: key);
        var id = (await TenantClient.ReadJsonAsync(transfer, HttpStatusCode.Created)).GetProperty("id").GetString()!;

        var rows = await server.Probe.RowsAsync($"SELECT idempotency_key, fingerprint, hash, prev_hash FROM ledger_entries WHERE movement_id = '{id}'");
        Assert.Equal(2, rows.Count);
        Assert.All(rows, row => Assert.Equal(key, row[0]));
        Assert.All(rows, row => Assert.Matches("^[0-9a-f]{64}$", row[1]!));
        Assert.All(rows, row => Assert.Matches("^[0-9a-f]{64}$", row[2]!));
        Assert.Single(rows, row => row[3] is not null);
        await tenant.AssertAuditCleanAsync();
    }

    private Task<string?> EntryIdAsync(string account, string type)
        => server.Probe.TextAsync($"SELECT id FROM ledger_entries WHERE account_id = @t AND movement_type = '{type}'", account);

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
