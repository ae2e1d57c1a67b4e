using System.Globalization;
using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.CardPayments;

/// <summary>
/// Payments with manual capture over real HTTP: authorised by POST /v1/payments with "capture": false, then captured
/// (all or part) or canceled, each keyed; checked against the processor's own charges, the ledger rows and the audit.
/// </summary>
public abstract class ManualCaptureEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : ManualCaptureEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : ManualCaptureEndpointsTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task Authorize_CaptureFalse_Returns201RequiresCaptureAuthorisesAtProcessorAndPostsNothing()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();

        using var response = await tenant.AuthorizeAsync(account, 1_000);

        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        var id = payment.GetProperty("id").GetString()!;
        Assert.Equal("requires_capture", payment.GetProperty("status").GetString());
        Assert.False(payment.GetProperty("capture").GetBoolean());
        Assert.Equal(1_000, payment.GetProperty("amount_capturable").GetInt64());
        Assert.Equal(0, payment.GetProperty("amount_captured").GetInt64());
        var expiresAt = payment.GetProperty("authorization_expires_at").GetDateTimeOffset();
        Assert.InRange(expiresAt, DateTimeOffset.UtcNow.AddDays(7).AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(7).AddMinutes(1));
        Assert.Equal($"/v1/payments/{id}", response.Headers.Location?.OriginalString);
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("requires_capture", charge.GetProperty("status").GetString());
        Assert.Equal(0, charge.GetProperty("captured").GetInt64());
        Assert.Equal("authorize-" + id, charge.GetProperty("idempotency_key").GetString());
        Assert.Equal(charge.GetProperty("id").GetString(), payment.GetProperty("charge").GetString());
        Assert.Equal(0, await tenant.BalanceAsync(account));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(payment.GetRawText(), (await tenant.GetPaymentAsync(id)).GetRawText());
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Pay_CaptureTrue_IsTodaysPaymentTakenAtOnce()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();

        using var response = await tenant.PostAsync("/v1/payments", PaymentRequests.PaymentJson(account, 400).TrimEnd('}') + ",\"capture\":true}");

        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.True(payment.GetProperty("capture").GetBoolean());
        Assert.Equal(400, payment.GetProperty("amount_captured").GetInt64());
        Assert.Equal(0, payment.GetProperty("amount_capturable").GetInt64());
        Assert.Equal(JsonValueKind.Null, payment.GetProperty("authorization_expires_at").ValueKind);
        Assert.Equal(400, await tenant.BalanceAsync(account));
    }

    [Fact]
    public async Task Capture_All_Returns200SucceededAndPostsTheAmountOnceUnderTheCaptureRequest()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 1_000);
        var key = TenantClient.NewKey();

        // No body at all: capture everything.
        using var response = await tenant.PostAsync($"/v1/payments/{id}/capture", "", key);

        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(1_000, payment.GetProperty("amount_captured").GetInt64());
        Assert.Equal(0, payment.GetProperty("amount_capturable").GetInt64());
        Assert.Equal(1_000, await tenant.BalanceAsync(account));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("succeeded", charge.GetProperty("status").GetString());
        Assert.Equal(1_000, charge.GetProperty("captured").GetInt64());
        Assert.Equal(1, await processor.RequestsUnderAsync("capture-" + id));

        // The entries carry the capture request's key and fingerprint, not the authorising request's.
        var entries = await server.Probe.RowsAsync($"SELECT idempotency_key, fingerprint, movement_type FROM ledger_entries WHERE movement_id = '{id}'");
        Assert.Equal(2, entries.Count);
        var authorizingFingerprint = await server.Probe.TextAsync("SELECT fingerprint FROM payments WHERE id = @t", id);
        Assert.All(entries, e =>
        {
            Assert.Equal(key, e[0]);
            Assert.False(string.IsNullOrEmpty(e[1]));
            Assert.NotEqual(authorizingFingerprint, e[1]);
            Assert.Equal("payment", e[2]);
        });
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"payment.succeeded:{id}"));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Capture_Partial_ReleasesTheRestAndRefundsStayWithinWhatWasCaptured()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 1_000);

        using var response = await tenant.CaptureAsync(id, 600);

        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(1_000, payment.GetProperty("amount").GetInt64());
        Assert.Equal(600, payment.GetProperty("amount_captured").GetInt64());
        Assert.Equal(600, await tenant.BalanceAsync(account));
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal(600, charge.GetProperty("captured").GetInt64());
        Assert.Equal(600, await server.Probe.CountAsync("SELECT SUM(amount) FROM ledger_entries WHERE movement_id = @t AND amount > 0", id));

        using (var tooMuch = await tenant.RefundAsync(id, 601))
        {
            await ProblemAssert.IsProblemAsync(tooMuch, HttpStatusCode.UnprocessableEntity, Problem + "refund-exceeds-payment");
        }

        using (var all = await tenant.RefundAsync(id, 600))
        {
            Assert.Equal(HttpStatusCode.Created, all.StatusCode);
        }

        Assert.Equal(0, await tenant.BalanceAsync(account));
        Assert.Equal(600, (await tenant.GetPaymentAsync(id)).GetProperty("amount_refunded").GetInt64());
        Assert.Equal(600, (await processor.RefundsOfChargeAsync(charge.GetProperty("id").GetString()!)).Sum(r => r.GetProperty("amount").GetInt64()));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Cancel_Authorized_Returns200CanceledVoidsAtProcessorAndReplays()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 500);
        var key = TenantClient.NewKey();

        using var first = await tenant.CancelAsync(id, key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var replay = await tenant.CancelAsync(id, key);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        var payment = JsonDocument.Parse(firstBody).RootElement;
        Assert.Equal("canceled", payment.GetProperty("status").GetString());
        Assert.Equal(0, payment.GetProperty("amount_capturable").GetInt64());
        Assert.Equal(0, payment.GetProperty("amount_captured").GetInt64());
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(firstBody, await replay.Content.ReadAsByteArrayAsync());
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("canceled", charge.GetProperty("status").GetString());
        Assert.Equal(0, charge.GetProperty("captured").GetInt64());
        Assert.Equal(1, await processor.RequestsUnderAsync("cancel-" + id));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(0, await tenant.BalanceAsync(account));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task Capture_RetrySameKey_ReplaysSameBytesAndCapturesOnce()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 1_000);
        var key = TenantClient.NewKey();

        using var first = await tenant.CaptureAsync(id, 700, key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var retry = await tenant.CaptureAsync(id, 700, key);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(HttpStatusCode.OK, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(firstBody, await retry.Content.ReadAsByteArrayAsync());
        Assert.Equal(1, await processor.RequestsUnderAsync("capture-" + id));
        Assert.Equal(700, Assert.Single(await processor.ChargesOfAsync(id)).GetProperty("captured").GetInt64());
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        Assert.Equal(700, await tenant.BalanceAsync(account));

        // The key belongs to that capture: another amount under it is refused by the middleware, and changes nothing.
        using var other = await tenant.CaptureAsync(id, 701, key);

        await ProblemAssert.IsProblemAsync(other, HttpStatusCode.UnprocessableEntity, "urn:idem:problem:idempotency-key-mismatch");
        Assert.Equal(700, await tenant.BalanceAsync(account));
        Assert.Equal(1, await processor.RequestsUnderAsync("capture-" + id));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Theory]
    [InlineData("captured", "succeeded")]
    [InlineData("canceled", "canceled")]
    [InlineData("automatic", "succeeded")]
    [InlineData("declined", "declined")]
    public async Task Capture_PaymentNotAwaitingCapture_Returns409AndWritesNothing(string made, string status)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await MakeAsync(tenant, account, made);
        var before = await WitnessAsync(tenant, processor, id);

        using var response = await tenant.CaptureAsync(id, 100);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, Problem + "payment-not-capturable");
        Assert.Equal(status, problem.GetProperty("payment_status").GetString());
        Assert.Equal(id, problem.GetProperty("payment").GetString());
        Assert.Equal(before, await WitnessAsync(tenant, processor, id));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Theory]
    [InlineData("captured", "succeeded")]
    [InlineData("canceled", "canceled")]
    [InlineData("automatic", "succeeded")]
    public async Task Cancel_PaymentNotAwaitingCapture_Returns409AndWritesNothing(string made, string status)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await MakeAsync(tenant, account, made);
        var before = await WitnessAsync(tenant, processor, id);

        using var response = await tenant.CancelAsync(id);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.Conflict, Problem + "payment-not-cancelable");
        Assert.Equal(status, problem.GetProperty("payment_status").GetString());
        Assert.Equal(before, await WitnessAsync(tenant, processor, id));
    }

    [Theory]
    [InlineData("{\"amount\":0}", "invalid-request")]
    [InlineData("{\"amount\":-5}", "invalid-request")]
    [InlineData("{\"amount\":1001}", "capture-exceeds-authorization")]
    [InlineData("{\"amount\":\"10\"}", "malformed-request")]
    [InlineData("{\"amount\":10.5}", "malformed-request")]
    [InlineData("{\"amount\":10,\"currency\":\"USD\"}", "malformed-request")]
    [InlineData("{\"amount\":", "malformed-request")]
    public async Task Capture_BadAmount_Returns400AndWritesNothing(string body, string type)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 1_000);
        var before = await WitnessAsync(tenant, processor, id);

        using var response = await tenant.PostAsync($"/v1/payments/{id}/capture", body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + type);
        Assert.Equal(before, await WitnessAsync(tenant, processor, id));
        Assert.Equal("requires_capture", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, await processor.RequestsUnderAsync("capture-" + id));
    }

    [Theory]
    [InlineData("\"no\"")]
    [InlineData("\"false\"")]
    [InlineData("0")]
    [InlineData("{}")]
    public async Task Pay_BadCaptureValue_Returns400AndWritesNothing(string capture)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var charges = (await processor.ChargesAsync()).Count;

        using var response = await tenant.PostAsync("/v1/payments", PaymentRequests.PaymentJson(account, 100).TrimEnd('}') + ",\"capture\":" + capture + "}");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "malformed-request");
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM payments WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(charges, (await processor.ChargesAsync()).Count);
    }

    [Theory]
    [InlineData("{\"reason\":\"fraud\"}", 400)]
    [InlineData("[]", 400)]
    [InlineData("{}", 200)]
    public async Task Cancel_Body_OnlyAnEmptyObjectIsAccepted(string body, int status)
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 300);

        using var response = await tenant.PostAsync($"/v1/payments/{id}/cancel", body);

        if (status == 200)
        {
            Assert.Equal("canceled", (await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK)).GetProperty("status").GetString());
        }
        else
        {
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "malformed-request");
            Assert.Equal("requires_capture", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
            Assert.Equal(0, await processor.RequestsUnderAsync("cancel-" + id));
        }
    }

    [Fact]
    public async Task CaptureAndCancel_UnknownOrOtherTenantsPayment_Return404AndTouchNothing()
    {
        var owner = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await owner.CreateAccountIdAsync();
        var id = await owner.AuthorizedAsync(account, 300);
        var intruder = server.NewTenant();

        using var unknownCapture = await intruder.CaptureAsync("pay_nothing");
        using var unknownCancel = await intruder.CancelAsync("pay_nothing");
        using var otherCapture = await intruder.CaptureAsync(id);
        using var otherCancel = await intruder.CancelAsync(id);

        foreach (var response in new[] { unknownCapture, unknownCancel, otherCapture, otherCancel })
        {
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "payment-not-found");
        }

        Assert.Equal("requires_capture", (await owner.GetPaymentAsync(id)).GetProperty("status").GetString());
        Assert.Equal(0, await processor.RequestsUnderAsync("capture-" + id));
        Assert.Equal(0, await processor.RequestsUnderAsync("cancel-" + id));
    }

    [Fact]
    public async Task Capture_NoIdempotencyKey_Returns400AndCapturesNothing()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 300);
        using var request = new HttpRequestMessage(HttpMethod.Post, $"/v1/payments/{id}/capture")
        {
            Content = new StringContent("{}", System.Text.Encoding.UTF8, "application/json"),
        };

        using var response = await tenant.SendAsync(request);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:problem:idempotency-key-missing");
        Assert.Equal("requires_capture", (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString());
    }

    [Fact]
    public async Task Capture_TwentyParallelWithDifferentKeys_ExactlyOneCapturesOnceAndTheOthersGet409()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();

        // tok_capture_timeout holds the winner at the processor (its first capture attempt answers after the deadline), so
        // every other request runs while the winner's capture is in flight: they raced it, not a finished capture.
        var id = await tenant.AuthorizedAsync(account, 2_000, "tok_capture_timeout");
        var keys = Enumerable.Range(0, 20).Select(_ => TenantClient.NewKey()).ToArray();

        // Released together by one gate that blocks no thread (the service runs in this process, on the same pool).
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sent = keys.Select(key => Task.Run(async () =>
        {
            await go.Task;
            using var response = await tenant.CaptureAsync(id, key: key);
            return (Key: key, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })).ToArray();
        go.SetResult();
        var responses = await Task.WhenAll(sent);

        var report = string.Join("\n", responses.Select(r => $"{(int)r.StatusCode} {r.Body}"));
        var winner = Assert.Single(responses, r => r.StatusCode != HttpStatusCode.Conflict);
        Assert.True(winner.StatusCode == HttpStatusCode.ServiceUnavailable, report);
        Assert.Equal(Problem + "capture-outcome-pending", JsonDocument.Parse(winner.Body).RootElement.GetProperty("type").GetString());
        var losers = responses.Where(r => r.StatusCode == HttpStatusCode.Conflict).ToList();
        Assert.Equal(19, losers.Count);
        Assert.All(losers, r =>
        {
            var problem = JsonDocument.Parse(r.Body).RootElement;
            Assert.Equal(Problem + "payment-not-capturable", problem.GetProperty("type").GetString());
            Assert.Equal("capturing", problem.GetProperty("payment_status").GetString());
        });
        Assert.Equal(0, await tenant.BalanceAsync(account));

        // The winner's retry with its key resumes its capture and finishes it.
        using var retry = await PaymentRequests.RetryWhilePendingAsync(() => tenant.CaptureAsync(id, key: winner.Key));

        var payment = await TenantClient.ReadJsonAsync(retry, HttpStatusCode.OK);
        Assert.Equal("succeeded", payment.GetProperty("status").GetString());
        Assert.Equal(2_000, payment.GetProperty("amount_captured").GetInt64());
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        Assert.Equal("succeeded", charge.GetProperty("status").GetString());
        Assert.Equal(2_000, charge.GetProperty("captured").GetInt64());
        var entries = await server.Probe.RowsAsync($"SELECT idempotency_key FROM ledger_entries WHERE movement_id = '{id}'");
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.Equal(winner.Key, e[0]));
        Assert.Equal(2_000, await tenant.BalanceAsync(account));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"payment.succeeded:{id}"));

        // A loser retried later replays its 409; it never captures.
        using var late = await tenant.CaptureAsync(id, key: losers[0].Key);
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal("true", Assert.Single(late.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(2_000, await tenant.BalanceAsync(account));
        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    [Fact]
    public async Task CaptureAndCancel_TenEachInParallel_ExactlyOneWinsAndTheProcessorAgrees()
    {
        var tenant = server.NewTenant();
        using var processor = new ProcessorProbe(server.ProcessorAddress);
        var account = await tenant.CreateAccountIdAsync();
        var id = await tenant.AuthorizedAsync(account, 900);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        var sent = Enumerable.Range(0, 20).Select(i => Task.Run(async () =>
        {
            await go.Task;
            using var response = i % 2 == 0 ? await tenant.CaptureAsync(id) : await tenant.CancelAsync(id);
            return (Capture: i % 2 == 0, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        })).ToArray();
        go.SetResult();
        var responses = await Task.WhenAll(sent);

        var report = string.Join("\n", responses.Select(r => $"{(int)r.StatusCode} {r.Body}"));
        var winner = Assert.Single(responses, r => r.StatusCode == HttpStatusCode.OK);
        Assert.True(responses.Count(r => r.StatusCode == HttpStatusCode.Conflict) == 19, report);
        var status = (await tenant.GetPaymentAsync(id)).GetProperty("status").GetString();
        var charge = Assert.Single(await processor.ChargesOfAsync(id));
        if (winner.Capture)
        {
            Assert.Equal("succeeded", status);
            Assert.Equal(900, charge.GetProperty("captured").GetInt64());
            Assert.Equal(900, await tenant.BalanceAsync(account));
            Assert.Equal(0, await processor.RequestsUnderAsync("cancel-" + id));
        }
        else
        {
            Assert.Equal("canceled", status);
            Assert.Equal("canceled", charge.GetProperty("status").GetString());
            Assert.Equal(0, await tenant.BalanceAsync(account));
            Assert.Equal(0, await processor.RequestsUnderAsync("capture-" + id));
        }

        await ManualCapture.AssertAuditCleanAsync(tenant);
    }

    // A payment in the state a test needs: captured, canceled (both manual), automatic (succeeded), declined (manual).
    private static async Task<string> MakeAsync(TenantClient tenant, string account, string made)
    {
        switch (made)
        {
            case "automatic":
                return (await tenant.PaySucceededAsync(account, 1_000)).GetProperty("id").GetString()!;
            case "declined":
                using (var declined = await tenant.AuthorizeAsync(account, 1_000, "tok_declined"))
                {
                    return (await ProblemAssert.IsProblemAsync(declined, HttpStatusCode.PaymentRequired)).GetProperty("payment").GetString()!;
                }

            default:
                var id = await tenant.AuthorizedAsync(account, 1_000);
                using (var done = made == "captured" ? await tenant.CaptureAsync(id) : await tenant.CancelAsync(id))
                {
                    Assert.Equal(HttpStatusCode.OK, done.StatusCode);
                }

                return id;
        }
    }

    // What a refused request must leave as it was: the ledger, the payment row, and the processor's record of the payment.
    private async Task<string> WitnessAsync(TenantClient tenant, ProcessorProbe processor, string paymentId)
    {
        var snapshot = await server.Probe.SnapshotAsync(tenant.TenantId);
        var row = string.Join(",", (await server.Probe.RowsAsync(
            $"SELECT status, amount_captured, capture_key, cancel_key, updated_at FROM payments WHERE id = '{paymentId}'")).Single());
        var charges = string.Join(";", (await processor.ChargesOfAsync(paymentId)).Select(c => c.GetRawText()));
        return string.Create(CultureInfo.InvariantCulture, $"{snapshot} | {row} | {charges}");
    }
}

/// <summary>Payments with manual capture as a tenant sends them.</summary>
internal static class ManualCapture
{
    public static Task<HttpResponseMessage> AuthorizeAsync(this TenantClient tenant, string account, long amount, string source = "tok_visa", string? key = null)
        => tenant.PostAsync("/v1/payments", $$"""{"amount":{{amount}},"currency":"USD","source":"{{source}}","account":"{{account}}","capture":false}""", key);

    /// <summary>An authorised payment awaiting capture; returns its id.</summary>
    public static async Task<string> AuthorizedAsync(this TenantClient tenant, string account, long amount, string source = "tok_visa")
    {
        using var response = await tenant.AuthorizeAsync(account, amount, source);
        var payment = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal("requires_capture", payment.GetProperty("status").GetString());
        return payment.GetProperty("id").GetString()!;
    }

    /// <summary>Captures <paramref name="amount"/>, or everything when null (an empty JSON object).</summary>
    public static Task<HttpResponseMessage> CaptureAsync(this TenantClient tenant, string paymentId, long? amount = null, string? key = null)
        => tenant.PostAsync($"/v1/payments/{paymentId}/capture", amount is null ? "{}" : $$"""{"amount":{{amount}}}""", key);

    public static Task<HttpResponseMessage> CancelAsync(this TenantClient tenant, string paymentId, string? key = null)
        => tenant.PostAsync($"/v1/payments/{paymentId}/cancel", "", key);

    public static async Task AssertAuditCleanAsync(TenantClient tenant)
    {
        using var audit = await tenant.GetAsync("/v1/ledger/audit");
        var report = await TenantClient.ReadJsonAsync(audit, HttpStatusCode.OK);
        Assert.True(report.GetProperty("ok").GetBoolean(), report.GetRawText());
        Assert.Equal(0, report.GetProperty("unsettled_payments").GetInt32());
    }
}
