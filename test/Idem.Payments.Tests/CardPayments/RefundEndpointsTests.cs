using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>POST/GET /v1/payments/{id}/refunds, checked against the processor's refunds and the ledger.</summary>
public abstract class RefundEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : RefundEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : RefundEndpointsTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Refund_PartialThenRest_RefundsBothAtProcessorAndLedger()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var payment = await tenant.PaySucceededAsync(account, 1_000);
        var id = payment.GetProperty("id").GetString()!;
        var charge = payment.GetProperty("charge").GetString()!;

        using var partial = await tenant.RefundAsync(id, 300);
        using var rest = await tenant.RefundAsync(id, 700);

        var first = await TenantClient.ReadJsonAsync(partial, HttpStatusCode.Created);
        var second = await TenantClient.ReadJsonAsync(rest, HttpStatusCode.Created);
        Assert.Equal("succeeded", first.GetProperty("status").GetString());
        Assert.Equal(id, first.GetProperty("payment").GetString());
        Assert.Equal(300, first.GetProperty("amount").GetInt64());
        Assert.Equal($"/v1/payments/{id}/refunds/{first.GetProperty("id").GetString()}", partial.Headers.Location?.OriginalString);
        Assert.Equal(0, await tenant.BalanceAsync(account));
        Assert.Equal(1_000, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        var refunds = await processor.RefundsOfChargeAsync(charge);
        Assert.Equal([300L, 700L], refunds.Select(r => r.GetProperty("amount").GetInt64()).Order());
        Assert.Equal(1_000, (await processor.ChargesOfAsync(id)).Single().GetProperty("refunded").GetInt64());
        using var list = await tenant.GetAsync($"/v1/payments/{id}/refunds");
        var data = (await TenantClient.ReadJsonAsync(list, HttpStatusCode.OK)).GetProperty("data");
        Assert.Equal([first.GetProperty("id").GetString(), second.GetProperty("id").GetString()], data.EnumerateArray().Select(r => r.GetProperty("id").GetString()));
    }

    [Fact]
    public async Task Refund_SameKey_ReplaysAndRefundsOnce()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var payment = await tenant.PaySucceededAsync(account, 1_000);
        var id = payment.GetProperty("id").GetString()!;
        var key = TenantClient.NewKey();

        using var first = await tenant.RefundAsync(id, 250, key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var retry = await tenant.RefundAsync(id, 250, key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(firstBody, await retry.Content.ReadAsByteArrayAsync());
        Assert.Single(await processor.RefundsOfChargeAsync(payment.GetProperty("charge").GetString()!));
        Assert.Equal(750, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Refund_ProcessorRefusesForGood_FailsItPutsTheMoneyBackAndReplaysThe422()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        JsonElement payment;
        using (var paid = await tenant.PayAsync(account, 1_000, "tok_refund_refused"))
        {
            payment = await TenantClient.ReadJsonAsync(paid, HttpStatusCode.Created);
        }

        var id = payment.GetProperty("id").GetString()!;
        var key = TenantClient.NewKey();

        // The processor's refusal comes after the service stopped waiting: pending first, the money held back.
        using (var first = await tenant.RefundAsync(id, 400, key))
        {
            await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, Problem + "refund-outcome-pending");
        }

        Assert.Equal(600, await tenant.BalanceAsync(account));
        Assert.Equal(400, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());

        // A retry with the key resumes the refund and gets the refusal: final, and everything of the refund undone.
        using var refused = await PaymentRequests.RetryWhilePendingAsync(() => tenant.RefundAsync(id, 400, key));
        var refusedBody = await refused.Content.ReadAsByteArrayAsync();
        var problem = await ProblemAssert.IsProblemAsync(refused, HttpStatusCode.UnprocessableEntity, Problem + "refund-refused");
        var refundId = problem.GetProperty("refund").GetString()!;
        Assert.Equal(1_000, await tenant.BalanceAsync(account));
        Assert.Equal(0, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        using (var list = await tenant.GetAsync($"/v1/payments/{id}/refunds"))
        {
            var refund = Assert.Single((await TenantClient.ReadJsonAsync(list, HttpStatusCode.OK)).GetProperty("data").EnumerateArray());
            Assert.Equal(refundId, refund.GetProperty("id").GetString());
            Assert.Equal("failed", refund.GetProperty("status").GetString());
        }

        Assert.Empty(await processor.RefundsOfChargeAsync(payment.GetProperty("charge").GetString()!));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t AND movement_type = 'refund'", refundId));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t AND movement_type = 'refund_reversal'", refundId));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COALESCE(SUM(amount), 0) FROM ledger_entries WHERE movement_id = @t", refundId));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"refund.succeeded:{refundId}"));

        using var replay = await tenant.RefundAsync(id, 400, key);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, replay.StatusCode);
        Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(refusedBody, await replay.Content.ReadAsByteArrayAsync());
        Assert.Equal(1_000, await tenant.BalanceAsync(account));
        Assert.Equal(4, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", refundId));
        using var audit = await tenant.GetAsync("/v1/ledger/audit");
        var report = await TenantClient.ReadJsonAsync(audit, HttpStatusCode.OK);
        Assert.True(report.GetProperty("ok").GetBoolean(), report.GetRawText());
        Assert.Equal(0, report.GetProperty("unsettled_refunds").GetInt32());
    }

    [Fact]
    public async Task Refund_MoreThanLeft_Returns422AndWritesNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var payment = await tenant.PaySucceededAsync(account, 1_000);
        var id = payment.GetProperty("id").GetString()!;
        using (var partial = await tenant.RefundAsync(id, 600))
        {
            Assert.Equal(HttpStatusCode.Created, partial.StatusCode);
        }

        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.RefundAsync(id, 401);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, Problem + "refund-exceeds-payment");
        Assert.Equal("amount", problem.GetProperty("param").GetString());
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(600, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE payment_id = @t", id));
        Assert.Single(await processor.RefundsOfChargeAsync(payment.GetProperty("charge").GetString()!));
    }

    [Fact]
    public async Task Refund_DeclinedPayment_Returns422NotRefundable()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        using var declined = await tenant.PayAsync(account, 100, "tok_declined");
        var id = (await ProblemAssert.IsProblemAsync(declined, HttpStatusCode.PaymentRequired)).GetProperty("payment").GetString()!;

        using var response = await tenant.RefundAsync(id, 100);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, Problem + "payment-not-refundable");
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(0, (await server.Probe.SnapshotAsync(tenant.TenantId)).Entries);
    }

    [Fact]
    public async Task Refund_UnknownPayment_Returns404()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.RefundAsync("pay_nothing", 100);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "payment-not-found");
    }

    [Fact]
    public async Task Refund_OtherTenantsPayment_Returns404AndRefundsNothing()
    {
        var owner = server.NewTenant();
        var account = await owner.CreateAccountIdAsync();
        var id = (await owner.PaySucceededAsync(account, 100)).GetProperty("id").GetString()!;
        var intruder = server.NewTenant();

        using var response = await intruder.RefundAsync(id, 100);
        using var list = await intruder.GetAsync($"/v1/payments/{id}/refunds");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "payment-not-found");
        await ProblemAssert.IsProblemAsync(list, HttpStatusCode.NotFound, Problem + "payment-not-found");
        Assert.Equal(100, await owner.BalanceAsync(account));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE payment_id = @t", id));
    }

    [Fact]
    public async Task Refund_MerchantMoneyTransferredAway_Returns422InsufficientFundsAndWritesNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var elsewhere = await tenant.CreateAccountIdAsync();
        var payment = await tenant.PaySucceededAsync(account, 1_000);
        var id = payment.GetProperty("id").GetString()!;
        using (var transfer = await tenant.TransferAsync(account, elsewhere, 950))
        {
            Assert.Equal(HttpStatusCode.Created, transfer.StatusCode);
        }

        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.RefundAsync(id, 100);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, Problem + "insufficient-funds");
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(0, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE payment_id = @t", id));
        Assert.Empty(await processor.RefundsOfChargeAsync(payment.GetProperty("charge").GetString()!));
        Assert.Equal(50, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Refund_TwentyParallelTenPercent_ExactlyTenSucceedAndProcessorAgrees()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var payment = await tenant.PaySucceededAsync(account, 2_000);
        var id = payment.GetProperty("id").GetString()!;
        using var barrier = new Barrier(20);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await tenant.RefundAsync(id, 200);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })));

        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        var refused = responses.Where(r => r.StatusCode == HttpStatusCode.UnprocessableEntity).ToList();
        Assert.True(created.Count == 10, string.Join("\n", responses.Select(r => $"{(int)r.StatusCode} {r.Body}")));
        Assert.Equal(10, refused.Count);
        Assert.All(refused, r => Assert.Equal(Problem + "refund-exceeds-payment", JsonDocument.Parse(r.Body).RootElement.GetProperty("type").GetString()));
        Assert.Equal(2_000, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        Assert.Equal(0, await tenant.BalanceAsync(account));
        var processorRefunds = await processor.RefundsOfChargeAsync(payment.GetProperty("charge").GetString()!);
        Assert.Equal(
            created.Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("id").GetString()).Order(),
            processorRefunds.Select(r => r.GetProperty("reference").GetString()).Order());
        Assert.Equal(2_000, processorRefunds.Sum(r => r.GetProperty("amount").GetInt64()));
        Assert.Equal(10, await server.Probe.CountAsync("SELECT COUNT(*) FROM refunds WHERE payment_id = @t", id));
    }
}
