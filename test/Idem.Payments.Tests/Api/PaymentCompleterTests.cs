using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Api;

/// <summary>
/// The background completer, on a server of its own where payments count as abandoned after 1 s and the completer
/// looks every 200 ms: a payment whose client never retries is still settled, once.
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
    }
}
