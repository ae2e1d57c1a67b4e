using System.Net;
using Idem.Payments.Accounts;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Idem.Payments.Processor;
using Idem.Payments.Tests.Infrastructure;
using Idem.Storage;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// Every node runs a completer. Payments whose node died after writing them (pending, the processor never asked) are
/// left for the completers of the nodes still up, which must share them out: the processor is asked once per payment,
/// not once per node; and one payment that cannot be settled must not hold back the rest. The passes here are the completer's own, started by the test on a server whose completer never
/// ticks by itself.
/// </summary>
public abstract class CompleterNodesTests(PaymentsServer server)
{
    public sealed class OnSqlite(SqliteIdleCompleterServer server) : CompleterNodesTests(server), IClassFixture<SqliteIdleCompleterServer>;

    public sealed class OnPostgres(PostgresIdleCompleterServer server) : CompleterNodesTests(server), IClassFixture<PostgresIdleCompleterServer>;

    [Fact]
    public async Task Completer_TwoNodesPassingAtOnce_AskTheProcessorOncePerAbandonedPayment()
    {
        const int Abandoned = 12;
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var ids = await AbandonPaymentsAsync(tenant, account, Abandoned, 100);
        var completer = server.GetRequiredService<PaymentCompleter>();

        // Both passes list the same pending payments and go through them in the same order, released together.
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var passes = Enumerable.Range(0, 2).Select(_ => Task.Run(async () =>
        {
            await go.Task;
            return await completer.RunOnceAsync(CancellationToken.None);
        })).ToArray();
        go.SetResult();
        var settled = await Task.WhenAll(passes).WaitAsync(TimeSpan.FromSeconds(120));

        Assert.True(settled.Sum() >= Abandoned, $"The passes settled {settled[0]} and {settled[1]}.");
        foreach (var id in ids)
        {
            Assert.Equal(1, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(id)));
            Assert.Equal("succeeded", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
            Assert.Single(await processor.ChargesOfAsync(id));
            Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        }

        Assert.Equal(Abandoned * 100, await tenant.BalanceAsync(account));
        await AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_PaymentAnotherNodeIsCompleting_IsLeftToItUntilItLetsGo()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var ids = await AbandonPaymentsAsync(tenant, account, 2, 700);
        var completer = server.GetRequiredService<PaymentCompleter>();
        var store = server.GetRequiredService<IIdempotencyStore>();

        // Another node's completer has claimed the first payment and is still asking the processor.
        var claim = PaymentCompleter.ClaimOperation("payment", ids[0]);
        var other = await store.TryClaimAsync(new ClaimRequest(claim.StoreKey, claim.Fingerprint, TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(5)));
        Assert.Equal(ClaimOutcome.Claimed, other.Outcome);

        await completer.RunOnceAsync(CancellationToken.None);

        Assert.Equal(0, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(ids[0])));
        Assert.Equal("pending", (await tenant.GetPaymentAsync(ids[0])).GetProperty("status").GetString());
        Assert.Equal(1, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(ids[1])));
        Assert.Equal("succeeded", (await tenant.GetPaymentAsync(ids[1])).GetProperty("status").GetString());
        Assert.Equal(700, await tenant.BalanceAsync(account));

        // It lets go without settling it (its processor call failed): the next pass takes the payment on.
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(other.Lease!));
        await completer.RunOnceAsync(CancellationToken.None);

        Assert.Equal(1, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(ids[0])));
        Assert.Equal("succeeded", (await tenant.GetPaymentAsync(ids[0])).GetProperty("status").GetString());
        Assert.Equal(1, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(ids[1])));
        Assert.Equal(1_400, await tenant.BalanceAsync(account));
        await AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_PaymentThatCannotBeSettled_DoesNotHoldBackTheOthers()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var full = await tenant.CreateAccountIdAsync();
        var other = await tenant.CreateAccountIdAsync();

        // The older one comes first in the pass. Crediting it would take the money in the ledger past its limit of 10^18,
        // so its settle fails however often it is tried. (Phase one would not accept such an amount; it
        // stands for any item whose settle keeps failing.)
        const long Beyond = 1_000_000_000_000_000_001;
        var stuck = Assert.Single(await AbandonPaymentsAsync(tenant, full, 1, Beyond, TimeSpan.FromMinutes(2)));
        var fine = Assert.Single(await AbandonPaymentsAsync(tenant, other, 1, 300, TimeSpan.FromMinutes(1)));
        var completer = server.GetRequiredService<PaymentCompleter>();

        await completer.RunOnceAsync(CancellationToken.None);

        Assert.Equal("succeeded", (await tenant.GetPaymentAsync(fine)).GetProperty("status").GetString());
        Assert.Equal(300, await tenant.BalanceAsync(other));
        Assert.Equal("pending", (await tenant.GetPaymentAsync(stuck)).GetProperty("status").GetString());
        Assert.Equal(0, await tenant.BalanceAsync(full));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", stuck));

        // Its claim was let go: the next pass tries it again (and fails again), asking the processor under the same key.
        await completer.RunOnceAsync(CancellationToken.None);
        Assert.Equal(2, await processor.RequestsUnderAsync(ProcessorClient.ChargeKey(stuck)));
        Assert.Single(await processor.ChargesOfAsync(stuck));
        Assert.Equal("pending", (await tenant.GetPaymentAsync(stuck)).GetProperty("status").GetString());
    }

    /// <summary>
    /// Payments as a node leaves them when it dies between phase one (the pending payment committed) and asking the
    /// processor: pending, a minute old, nothing charged.
    /// </summary>
    private async Task<List<string>> AbandonPaymentsAsync(TenantClient tenant, string account, int count, long amount, TimeSpan? age = null)
    {
        var database = server.GetRequiredService<IPaymentsDatabase>();
        var ids = new List<string>();
        await using var work = await database.OpenAsync(CancellationToken.None);
        var repository = new PaymentRepository(work);
        for (var i = 0; i < count; i++)
        {
            var payment = new Payment(
                Ids.New(Ids.Payment), tenant.TenantId, account, amount, "USD", "tok_visa", PaymentStatus.Pending, TenantClient.NewKey(),
                null, null, 0, DateTimeOffset.UtcNow - (age ?? TimeSpan.FromMinutes(1)));
            Assert.True(await repository.InsertPaymentAsync(payment, CancellationToken.None));
            ids.Add(payment.Id);
        }

        return ids;
    }

    private static async Task AssertAuditCleanAsync(TenantClient tenant)
    {
        using var audit = await tenant.GetAsync("/v1/ledger/audit");
        var report = await TenantClient.ReadJsonAsync(audit, HttpStatusCode.OK);
        Assert.True(report.GetProperty("ok").GetBoolean(), report.GetRawText());
    }
}
