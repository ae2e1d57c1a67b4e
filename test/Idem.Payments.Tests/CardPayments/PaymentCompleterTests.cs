using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// The background completer, on a server of its own where payments count as abandoned after 1 s and the completer
/// looks every 200 ms: a payment whose client never retries is still settled, once, and a refund the processor refused
/// after its client gave up is failed, once, its money back in the account.
/// </summary>
public abstract class PaymentCompleterTests(PaymentsServer server)
{
    public sealed class OnSqlite(SqliteCompleterServer server) : PaymentCompleterTests(server), IClassFixture<SqliteCompleterServer>;

    public sealed class OnPostgres(PostgresCompleterServer server) : PaymentCompleterTests(server), IClassFixture<PostgresCompleterServer>;

    [Fact]
    public async Task Completer_TimedOutPaymentNeverRetried_SettlesItOnceAndLaterRetryGetsIt()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using var first = await tenant.PayAsync(account, 2_500, "tok_timeout", key);
        var id = (await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, "urn:idem:payments:problem:payment-outcome-pending"))
            .GetProperty("payment").GetString()!;

        // Asynchronous by design: the completer settles it once the processor answers (3 s after the charge). Bounded.
        var status = "pending";
        for (var i = 0; i < 100 && status == "pending"; i++)
        {
            await Task.Delay(200);
            status = (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString()!;
        }

        Assert.Equal("succeeded", status);
        Assert.Equal(2_500, await tenant.BalanceAsync(account));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Single(await processor.ChargesOfAsync(id));

        using var retry = await tenant.PayAsync(account, 2_500, "tok_timeout", key);

        var payment = await TenantClient.ReadJsonAsync(retry, HttpStatusCode.Created);
        Assert.Equal(id, payment.GetProperty("id").GetString());
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(2_500, await tenant.BalanceAsync(account));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));

        // The completer's settle wrote the payment's event with its entries; the retry added none.
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"payment.succeeded:{id}"));
    }

    [Fact]
    public async Task Completer_RefundTheProcessorRefusedAfterTheClientGaveUp_FailsItOnceAndLaterRetryGets422()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        string id, charge;
        using (var paid = await tenant.PayAsync(account, 1_000, "tok_refund_refused"))
        {
            var payment = await TenantClient.ReadJsonAsync(paid, HttpStatusCode.Created);
            (id, charge) = (payment.GetProperty("id").GetString()!, payment.GetProperty("charge").GetString()!);
        }

        var key = TenantClient.NewKey();
        using var first = await tenant.RefundAsync(id, 1_000, key);
        var refundId = (await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, "urn:idem:payments:problem:refund-outcome-pending"))
            .GetProperty("refund").GetString()!;
        Assert.Equal(0, await tenant.BalanceAsync(account));

        // Asynchronous by design: the completer fails it once the processor's refusal is in (5 s after the call). Bounded.
        var status = "pending";
        for (var i = 0; i < 100 && status == "pending"; i++)
        {
            await Task.Delay(200);
            using var list = await tenant.GetAsync($"/v1/payments/{id}/refunds");
            status = (await TenantClient.ReadJsonAsync(list, HttpStatusCode.OK)).GetProperty("data")[0].GetProperty("status").GetString()!;
        }

        Assert.Equal("failed", status);
        Assert.Equal(1_000, await tenant.BalanceAsync(account));
        Assert.Equal(0, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t AND movement_type = 'refund_reversal'", refundId));

        using var retry = await tenant.RefundAsync(id, 1_000, key);

        var problem = await ProblemAssert.IsProblemAsync(retry, HttpStatusCode.UnprocessableEntity, "urn:idem:payments:problem:refund-refused");
        Assert.Equal(refundId, problem.GetProperty("refund").GetString());
        Assert.Equal(1_000, await tenant.BalanceAsync(account));
        Assert.Equal(4, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", refundId));
        Assert.Empty(await processor.RefundsOfChargeAsync(charge));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"refund.succeeded:{refundId}"));
    }
}
