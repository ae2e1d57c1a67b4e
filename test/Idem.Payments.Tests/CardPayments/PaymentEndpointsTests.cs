using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// POST /v1/payments over real HTTP against the processor simulator, checked against the processor's own list of
/// charges and against the ledger rows.
/// </summary>
public abstract class PaymentEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : PaymentEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : PaymentEndpointsTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Pay_Visa_Returns201CreditsAccountAndChargesOnce()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();

        using var response = await tenant.PayAsync(account, 1_250);

        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        var id = payment.GetProperty("id").GetString()!;
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(account, payment.GetProperty("account").GetString());
        Assert.Equal(1_250, payment.GetProperty("amount").GetInt64());
        Assert.Equal($"/v1/payments/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(1_250, await tenant.BalanceAsync(account));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("succeeded", charge.GetProperty("status").GetString());
        Assert.Equal(1_250, charge.GetProperty("amount").GetInt64());
        Assert.Equal("charge-" + id, charge.GetProperty("idempotency_key").GetString());
        Assert.Equal(charge.GetProperty("id").GetString(), payment.GetProperty("charge").GetString());
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(payment.GetRawText(), (await tenant.GetPaymentAsync(id)).GetRawText());
    }

    [Fact]
    public async Task Pay_RetrySameKey_ReplaysSameBytesAndChargesNoMore()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();

        using var first = await tenant.PayAsync(account, 500, key: key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        var chargesAfterFirst = (await processor.ChargesAsync()).Count;
        using var retry = await tenant.PayAsync(account, 500, key: key);
        var retryBody = await retry.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(firstBody, retryBody);
        Assert.Equal(chargesAfterFirst, (await processor.ChargesAsync()).Count);
        Assert.Equal(500, await tenant.BalanceAsync(account));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
    }

    [Fact]
    public async Task Pay_TwentyParallelSameKey_ChargesOnceAndMakesOnePayment()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using var barrier = new Barrier(20);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () =>
        {
            barrier.SignalAndWait();
            using var response = await tenant.PayAsync(account, 777, key: key);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })));

        // Each duplicate either waited and replayed the payment, or was told the first is still running (409).
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{(int)r.StatusCode}: {r.Body}"));
        var created = responses.Where(r => r.StatusCode == HttpStatusCode.Created).Select(r => r.Body).Distinct().ToList();
        var body = JsonDocument.Parse(Assert.Single(created)).RootElement;
        var id = body.GetProperty("id").GetString()!;
        Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(777, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Pay_Declined_Returns402StoredAndReplayedWithNoLedgerEntries()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();

        using var first = await tenant.PayAsync(account, 900, "tok_declined", key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var retry = await tenant.PayAsync(account, 900, "tok_declined", key);

        Assert.Equal(HttpStatusCode.PaymentRequired, first.StatusCode);
        Assert.Equal("application/problem+json", first.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(firstBody).RootElement;
        Assert.Equal(Problem + "card-declined", problem.GetProperty("type").GetString());
        Assert.Equal("card_declined", problem.GetProperty("decline_code").GetString());
        var id = problem.GetProperty("payment").GetString()!;
        Assert.Equal(HttpStatusCode.PaymentRequired, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(firstBody, await retry.Content.ReadAsByteArrayAsync());
        var payment = await tenant.GetPaymentAsync(id);
        Assert.Equal("declined", payment.GetProperty("status").GetString());
        Assert.Equal(JsonValueKind.Null, payment.GetProperty("charge").ValueKind);
        Assert.Equal("declined", Assert.Single(await processor.ChargesOfAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, (await server.Probe.SnapshotAsync(tenant.TenantId)).Entries);
        Assert.Equal(0, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Pay_ProcessorTimesOutAfterCharging_503AtRecoveryPointThenRetrySucceedsWithSamePaymentAndOneCharge()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();

        using var first = await tenant.PayAsync(account, 4_200, "tok_timeout", key);

        var pending = await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, Problem + "payment-outcome-pending");
        Assert.Equal(TimeSpan.FromSeconds(1), first.Headers.RetryAfter?.Delta);
        var id = pending.GetProperty("payment").GetString()!;
        Assert.Single(await processor.ChargesOfAsync(id)); // the processor charged; only its answer was late
        Assert.Equal("pending", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, await tenant.BalanceAsync(account));
        using (var record = await tenant.GetAsync($"/v1/idempotency-keys/{key}"))
        {
            var body = await TenantClient.ReadJsonAsync(record, HttpStatusCode.OK);
            Assert.Equal("in_progress", body.GetProperty("state").GetString());
            Assert.Equal("payment_created", body.GetProperty("recovery_point").GetString());
        }

        // The processor answers once its delay is over; until then a retry resumes the same payment and answers 503 again.
        using var retry = await PaymentRequests.RetryWhilePendingAsync(
            () => tenant.PayAsync(account, 4_200, "tok_timeout", key),
            (status, body) => Assert.True(status == HttpStatusCode.Conflict || JsonDocument.Parse(body).RootElement.GetProperty("payment").GetString() == id, body));

        var payment = await TenantClient.ReadJsonAsync(retry, HttpStatusCode.Created);
        Assert.Equal(id, payment.GetProperty("id").GetString());
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(4_200, await tenant.BalanceAsync(account));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
    }

    [Fact]
    public async Task Pay_ProcessorUnavailable_503WithNoChargeThenRetryAfterWindowSucceedsOnce()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();

        using var first = await tenant.PayAsync(account, 300, "tok_unavailable", key);

        var pending = await ProblemAssert.IsProblemAsync(first, HttpStatusCode.ServiceUnavailable, Problem + "payment-outcome-pending");
        var id = pending.GetProperty("payment").GetString()!;
        Assert.Empty(await processor.ChargesOfAsync(id));
        Assert.Equal(0, await tenant.BalanceAsync(account));

        using var retry = await PaymentRequests.RetryWhilePendingAsync(() => tenant.PayAsync(account, 300, "tok_unavailable", key));

        var payment = await TenantClient.ReadJsonAsync(retry, HttpStatusCode.Created);
        Assert.Equal(id, payment.GetProperty("id").GetString());
        Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(300, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Pay_SameKeyOtherBody_Returns422AndChargesNothingMore()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        using var first = await tenant.PayAsync(account, 100, key: key);
        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var charges = (await processor.ChargesAsync()).Count;

        using var other = await tenant.PayAsync(account, 101, key: key);

        await ProblemAssert.IsProblemAsync(other, HttpStatusCode.UnprocessableEntity, "urn:idem:problem:idempotency-key-mismatch");
        Assert.Equal(charges, (await processor.ChargesAsync()).Count);
        Assert.Equal(100, await tenant.BalanceAsync(account));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
    }

    [Fact]
    public async Task GetPayment_Unknown_Returns404Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync("/v1/payments/pay_nothing");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "payment-not-found");
    }

    [Fact]
    public async Task GetPayment_OtherTenants_Returns404Problem()
    {
        var owner = server.NewTenant();
        var account = await owner.CreateAccountIdAsync();
        var id = (await owner.PaySucceededAsync(account, 10)).GetProperty("id").GetString();

        using var response = await server.NewTenant().GetAsync($"/v1/payments/{id}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "payment-not-found");
    }

    public static TheoryData<string, int, string> BadPayments() => new()
    {
        { "{\"amount\":", 400, "malformed-request" },
        { "{\"amount\":\"100\",\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "malformed-request" },
        { "{\"amount\":99999999999999999999,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "malformed-request" },
        { "{\"amount\":0,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":-5,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":1000000000000000001,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"XYZ\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"EUR\",\"source\":\"tok_visa\",\"account\":\"{account}\"}", 422, "currency-mismatch" },
        { "{\"amount\":100,\"currency\":\"USD\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"visa\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_VISA\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_" + new string('v', 61) + "\",\"account\":\"{account}\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_visa\"}", 400, "invalid-request" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"acc_nothing\"}", 404, "account-not-found" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{other}\"}", 404, "account-not-found" },
        { "{\"amount\":100,\"currency\":\"USD\",\"source\":\"tok_visa\",\"account\":\"{funding}\"}", 404, "account-not-found" },
    };

    [Theory]
    [MemberData(nameof(BadPayments))]
    public async Task Pay_BadInput_ReturnsProblemAndWritesNothing(string template, int status, string type)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(account, 50); // makes the tenant's USD funding account
        var funding = await server.Probe.TextAsync("SELECT id FROM accounts WHERE tenant_id = @t AND kind = 'funding'", tenant.TenantId);
        var other = await server.NewTenant().CreateAccountIdAsync();
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);
        var charges = (await processor.ChargesAsync()).Count;
        var key = TenantClient.NewKey();

        using var response = await tenant.PostAsync("/v1/payments", template.Replace("{account}", account).Replace("{other}", other).Replace("{funding}", funding), key);

        await ProblemAssert.IsProblemAsync(response, (HttpStatusCode)status, Problem + type);
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(charges, (await processor.ChargesAsync()).Count);
    }

    [Fact]
    public async Task Pay_NoIdempotencyKey_Returns400AndWritesNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var charges = (await processor.ChargesAsync()).Count;
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/payments")
        {
            Content = new StringContent(PaymentRequests.PaymentJson(account, 100), System.Text.Encoding.UTF8, "application/json"),
        };

        using var response = await tenant.SendAsync(request);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:problem:idempotency-key-missing");
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(charges, (await processor.ChargesAsync()).Count);
        Assert.Equal(0, await tenant.BalanceAsync(account));
    }
}
