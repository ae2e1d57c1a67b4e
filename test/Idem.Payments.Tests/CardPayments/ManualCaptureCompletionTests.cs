using System.Net;
using System.Text.Json;
using Idem.Payments.Accounts;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// Authorisations that expire, and captures and cancels that stop between their phases, on a server of its own where
/// the processor's authorisations last 3 s and the completer runs only when a test runs its pass (as several nodes'
/// completers would): an expired authorisation captures nothing anywhere, and a capture or cancel left at its recovery
/// point is finished once.
/// </summary>
public abstract class ManualCaptureCompletionTests(PaymentsServer server)
{
    public sealed class OnSqlite(SqliteShortAuthorizationServer server) : ManualCaptureCompletionTests(server), IClassFixture<SqliteShortAuthorizationServer>;

    public sealed class OnPostgres(PostgresShortAuthorizationServer server) : ManualCaptureCompletionTests(server), IClassFixture<PostgresShortAuthorizationServer>;

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Capture_AfterTheAuthorizationExpired_Returns409NamingTheExpiryAndCapturesNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var (id, expiresAt) = await AuthorizeAsync(tenant, account, 800);
        await UntilPastAsync(expiresAt);
        var key = TenantClient.NewKey();

        using var response = await tenant.CaptureAsync(id, key: key);
        var body = await response.Content.ReadAsByteArrayAsync();

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, Problem + "authorization-expired");
        Assert.Equal(expiresAt, problem.GetProperty("authorization_expires_at").GetDateTimeOffset());
        Assert.Contains(expiresAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture), problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        var payment = await tenant.GetPaymentAsync(id);
        Assert.Equal("expired", payment.GetProperty("status").GetString());
        Assert.Equal(0, payment.GetProperty("amount_capturable").GetInt64());

        // The service knew by its own clock: it never asked the processor, which agrees that nothing can be captured.
        Assert.Equal(0, await processor.RequestsUnderAsync("capture-" + id));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("expired", charge.GetProperty("status").GetString());
        Assert.Equal(0, charge.GetProperty("captured").GetInt64());
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(0, await tenant.BalanceAsync(account));

        using var replay = await tenant.CaptureAsync(id, key: key);
        Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(body, await replay.Content.ReadAsByteArrayAsync());
        using var cancel = await tenant.CancelAsync(id);
        await ProblemAssert.IsProblemAsync(cancel, HttpStatusCode.Conflict, Problem + "authorization-expired");
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Capture_AfterCancel_Returns409AndCapturesNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();

        // The authorisations of this server last 3 s: on a loaded machine the cancel can arrive after one expired (a 409),
        // or reach the processor after it did (the payment is then expired, not canceled). The premise is seen, not
        // assumed: a payment the cancel found expired is set aside for a new one.
        string id;
        var attempts = 0;
        do
        {
            attempts++;
            (id, _) = await AuthorizeAsync(tenant, account, 450);
            using var cancel = await tenant.CancelAsync(id);
            if (cancel.StatusCode == HttpStatusCode.Conflict)
            {
                await ProblemAssert.IsProblemAsync(cancel, HttpStatusCode.Conflict, Problem + "authorization-expired");
                continue;
            }

            if ((await TenantClient.ReadJsonAsync(cancel, HttpStatusCode.OK)).GetProperty("status").GetString() == "canceled")
            {
                break;
            }
        }
        while (attempts < 3);

        using var capture = await tenant.CaptureAsync(id);

        var problem = await ProblemAssert.IsProblemAsync(capture, HttpStatusCode.Conflict, Problem + "payment-not-capturable");
        Assert.Equal("canceled", problem.GetProperty("payment_status").GetString());
        Assert.Equal(0, await processor.RequestsUnderAsync("capture-" + id));
        Assert.Equal("canceled", Assert.Single(await processor.ChargesOfAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, await tenant.BalanceAsync(account));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_AuthorizationLapsed_MarksThePaymentExpiredAndACaptureThenGets409()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var (id, expiresAt) = await AuthorizeAsync(tenant, account, 250);
        var completer = server.GetRequiredService<PaymentCompleter>();

        await completer.RunOnceAsync(CancellationToken.None);
        Assert.Equal("requires_capture", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        await UntilPastAsync(expiresAt);
        await completer.RunOnceAsync(CancellationToken.None);

        Assert.Equal("expired", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        using var capture = await tenant.CaptureAsync(id);
        await ProblemAssert.IsProblemAsync(capture, HttpStatusCode.Conflict, Problem + "authorization-expired");
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_CaptureLeftAtItsRecoveryPoint_FinishesItOnceAndALaterRetryGetsIt()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var (id, expiresAt) = await AuthorizeAsync(tenant, account, 1_500, "tok_capture_timeout");
        var key = TenantClient.NewKey();

        // The processor captures at once but answers after the service stopped waiting; the client never retries.
        using (var first = await tenant.CaptureAsync(id, key: key))
        {
            await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, Problem + "capture-outcome-pending");
        }

        Assert.Equal("capturing", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, await tenant.BalanceAsync(account));
        using (var record = await tenant.GetAsync($"/v1/idempotency-keys/{key}"))
        {
            var body = await TenantClient.ReadJsonAsync(record, HttpStatusCode.OK);
            Assert.Equal("in_progress", body.GetProperty("state").GetString());
            Assert.Equal("capture_requested", body.GetProperty("recovery_point").GetString());
        }

        // Passes until the processor's answer is in (5 s after the capture), by then past the authorisation's expiry: the
        // processor answers the capture key with its first result, the capture it made in time. Bounded.
        await SettleAsync(tenant, id, "capturing");

        Assert.True(DateTimeOffset.UtcNow > expiresAt);
        var payment = await tenant.GetPaymentAsync(id);
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(1_500, payment.GetProperty("amount_captured").GetInt64());
        Assert.Equal(1_500, await tenant.BalanceAsync(account));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(1_500, charge.GetProperty("captured").GetInt64());
        var entries = await server.Probe.RowsAsync($"SELECT idempotency_key FROM ledger_entries WHERE movement_id = '{id}'");
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal(key, e[0]));

        using var retry = await tenant.CaptureAsync(id, key: key);

        var resumed = await TenantClient.ReadJsonAsync(retry, HttpStatusCode.OK);
        Assert.Equal(id, resumed.GetProperty("id").GetString());
        Assert.Equal("succeeded", resumed.GetProperty("status").GetString());
        Assert.Equal(1_500, await tenant.BalanceAsync(account));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"payment.succeeded:{id}"));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_CancelLeftAtItsRecoveryPoint_FinishesItAndALaterRetryGetsIt()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var (id, _) = await AuthorizeAsync(tenant, account, 650, "tok_capture_timeout");
        var key = TenantClient.NewKey();

        using (var first = await tenant.CancelAsync(id, key))
        {
            await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, Problem + "cancel-outcome-pending");
        }

        Assert.Equal("canceling", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        await SettleAsync(tenant, id, "canceling");

        Assert.Equal("canceled", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal("canceled", Assert.Single(await processor.ChargesOfAsync(id)).GetProperty("status").GetString());
        using var retry = await tenant.CancelAsync(id, key);
        Assert.Equal("canceled", (await TenantClient.ReadJsonAsync(retry, HttpStatusCode.OK)).GetProperty("status").GetString());
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Completer_CaptureBegunBeforeExpiryWhoseNodeDiedUntilAfter_TheProcessorRefusesAndThePaymentExpires()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var (id, expiresAt) = await AuthorizeAsync(tenant, account, 900);

        // Phase one of a capture, as a node runs it before it dies: the payment is capturing, in time.
        var database = server.GetRequiredService<IPaymentsDatabase>();
        var service = server.GetRequiredService<PaymentService>();
        await using (var work = await database.BeginAsync(CancellationToken.None))
        {
            var requested = await service.RequestCaptureAsync(work, tenant.TenantId, new Origin("key-of-a-dead-node", "fingerprint"), id, null, CancellationToken.None);
            Assert.Equal(PaymentStatus.Capturing, requested.Value?.Status);
            await work.CommitAsync(CancellationToken.None);
        }

        Assert.True(DateTimeOffset.UtcNow < expiresAt, "The capture began after the authorisation expired; the test needs it before.");
        Assert.Equal("capturing", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());

        // Nobody asks the processor until the authorisation has lapsed; then the completer does, under the capture key.
        await UntilPastAsync(expiresAt + TimeSpan.FromSeconds(1));
        await server.GetRequiredService<PaymentCompleter>().RunOnceAsync(CancellationToken.None);

        Assert.Equal("expired", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal(1, await processor.RequestsUnderAsync("capture-" + id));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("expired", charge.GetProperty("status").GetString());
        Assert.Equal(0, charge.GetProperty("captured").GetInt64());
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(0, await tenant.BalanceAsync(account));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Capture_RacingTheExpiryPass_ExactlyOneWinsForEachPayment()
    {
        // Captures sent around each authorisation's expiry, from well before to well after it, each released together
        // with a completer pass that expires what has lapsed. Whichever wins, the payment, the ledger and the processor agree.
        const int Payments = 8;
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var authorized = new List<(string Id, DateTimeOffset ExpiresAt)>();
        for (var i = 0; i < Payments; i++)
        {
            authorized.Add(await AuthorizeAsync(tenant, account, 100 + i));
        }

        var completer = server.GetRequiredService<PaymentCompleter>();
        var outcomes = await Task.WhenAll(authorized.Select((payment, i) => Task.Run(async () =>
        {
            var offset = TimeSpan.FromMilliseconds(-1_500 + (2_100 * i / (Payments - 1)));
            await UntilPastAsync(payment.ExpiresAt + offset);
            var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var pass = Task.Run(async () =>
            {
                await go.Task;
                return await completer.RunOnceAsync(CancellationToken.None);
            });
            var capture = Task.Run(async () =>
            {
                await go.Task;
                using var response = await tenant.CaptureAsync(payment.Id);
                return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
            });
            go.SetResult();
            await pass;
            return (payment.Id, Amount: 100L + i, Response: await capture);
        })));

        foreach (var (id, amount, response) in outcomes)
        {
            var status = (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString();
            var charge = Assert.Single(await processor.ChargesOfAsync(id));
            var entries = await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id);
            if (response.StatusCode == HttpStatusCode.OK)
            {
                Assert.Equal("succeeded", status);
                Assert.Equal(amount, charge.GetProperty("captured").GetInt64());
                Assert.Equal(2, entries);
            }
            else
            {
                Assert.True(response.StatusCode == HttpStatusCode.Conflict, response.Body);
                Assert.Equal(Problem + "authorization-expired", JsonDocument.Parse(response.Body).RootElement.GetProperty("type").GetString());
                Assert.Equal("expired", status);
                Assert.Equal(0, charge.GetProperty("captured").GetInt64());
                Assert.Equal(0, entries);
            }
        }

        // Early captures won and late ones lost: both sides of the expiry were exercised.
        Assert.Contains(outcomes, o => o.Response.StatusCode == HttpStatusCode.OK);
        Assert.Contains(outcomes, o => o.Response.StatusCode == HttpStatusCode.Conflict);
        Assert.Equal(outcomes.Where(o => o.Response.StatusCode == HttpStatusCode.OK).Sum(o => o.Amount), await tenant.BalanceAsync(account));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    private static async Task<(string Id, DateTimeOffset ExpiresAt)> AuthorizeAsync(TenantClient tenant, string account, long amount, string source = "tok_visa")
    {
        using var response = await tenant.AuthorizeAsync(account, amount, source);
        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        return (payment.GetProperty("id").GetString()!, payment.GetProperty("authorization_expires_at").GetDateTimeOffset());
    }

    // Real time: the processor's authorisations expire by its clock, which is the machine's.
    private static async Task UntilPastAsync(DateTimeOffset instant)
    {
        var wait = instant - DateTimeOffset.UtcNow + TimeSpan.FromMilliseconds(50);
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait);
        }
    }

    // Runs the completer's passes until the payment leaves the status it was left in. Bounded.
    private async Task SettleAsync(TenantClient tenant, string id, string leftIn)
    {
        var completer = server.GetRequiredService<PaymentCompleter>();
        for (var i = 0; i < 60 && (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString() == leftIn; i++)
        {
            await Task.Delay(250);
            await completer.RunOnceAsync(CancellationToken.None);
        }
    }
}

/// <summary>A server whose processor's authorisations last 3 s, and whose completer runs only when a test runs its pass.</summary>
public sealed class SqliteShortAuthorizationServer : SqlitePaymentsServer
{
    protected override string[] ExtraArguments() => [.. PaymentsServer.IdleCompleterArguments, "--Processor:AuthorizationLifetime=00:00:03"];
}

/// <inheritdoc cref="SqliteShortAuthorizationServer"/>
public sealed class PostgresShortAuthorizationServer : PostgresPaymentsServer
{
    protected override string[] ExtraArguments() => [.. PaymentsServer.IdleCompleterArguments, "--Processor:AuthorizationLifetime=00:00:03"];
}
