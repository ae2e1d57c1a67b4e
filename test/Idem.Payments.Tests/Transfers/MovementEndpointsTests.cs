using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Transfers;

public abstract class MovementEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : MovementEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : MovementEndpointsTests(server);

    [Fact]
    public async Task Deposit_Valid_CreditsAccountAndWritesTwoBalancedEntries()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();

        var deposit = await tenant.DepositAsync(id, 10_000);

        Assert.StartsWith("dep_", deposit.GetProperty("id").GetString(), StringComparison.Ordinal);
        Assert.Equal(id, deposit.GetProperty("account").GetString());
        Assert.Equal(10_000, deposit.GetProperty("amount").GetInt64());
        Assert.Equal(10_000, deposit.GetProperty("balance_after").GetInt64());
        Assert.Equal(10_000, await tenant.BalanceAsync(id));
        var snapshot = await server.Probe.SnapshotAsync(tenant.TenantId);
        Assert.Equal(2, snapshot.Entries);
        Assert.Equal(0, snapshot.BalanceTotal); // the account and the tenant's funding account
        Assert.Equal(1, snapshot.Deposits);
    }

    [Fact]
    public async Task Transfer_Funded_MovesMoneyAndReturnsSucceeded()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 10_000);

        using var response = await tenant.TransferAsync(from, to, 2_500);

        var transfer = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        var id = transfer.GetProperty("id").GetString()!;
        Assert.StartsWith("tr_", id, StringComparison.Ordinal);
        Assert.Equal("succeeded", transfer.GetProperty("status").GetString());
        Assert.Equal(from, transfer.GetProperty("from_account").GetString());
        Assert.Equal(to, transfer.GetProperty("to_account").GetString());
        Assert.Equal(2_500, transfer.GetProperty("amount").GetInt64());
        Assert.Equal("USD", transfer.GetProperty("currency").GetString());
        Assert.True(transfer.TryGetProperty("created_at", out _));
        Assert.Equal($"/v1/transfers/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal(7_500, await tenant.BalanceAsync(from));
        Assert.Equal(2_500, await tenant.BalanceAsync(to));
        Assert.Equal(2, await server.Probe.EntryCountAsync(from));
        Assert.Equal(1, await server.Probe.EntryCountAsync(to));
        Assert.Equal(0, await server.Probe.UnbalancedMovementsAsync());
    }

    [Fact]
    public async Task GetTransfer_Existing_ReturnsSameAsCreated()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync("GBP");
        var to = await tenant.CreateAccountIdAsync("GBP");
        await tenant.DepositAsync(from, 100);
        using var created = await tenant.TransferAsync(from, to, 100, "GBP");
        var transfer = await TenantClient.ReadJsonAsync(created, HttpStatusCode.Created);

        using var response = await tenant.GetAsync($"/v1/transfers/{transfer.GetProperty("id").GetString()}");

        var read = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal(transfer.GetRawText(), read.GetRawText());
    }

    [Fact]
    public async Task GetTransfer_Unknown_Returns404Problem()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.GetAsync("/v1/transfers/tr_nothing");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "urn:idem:payments:problem:transfer-not-found");
    }

    [Fact]
    public async Task Transfer_InsufficientFunds_Returns422AndReplaysItByteForByte()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 100);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);
        var key = TenantClient.NewKey();

        using var first = await tenant.TransferAsync(from, to, 101, idempotencyKey: key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var retry = await tenant.TransferAsync(from, to, 101, idempotencyKey: key);
        var retryBody = await retry.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.UnprocessableEntity, first.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("application/problem+json", first.Content.Headers.ContentType?.MediaType);
        var problem = System.Text.Json.JsonDocument.Parse(firstBody).RootElement;
        Assert.Equal("urn:idem:payments:problem:insufficient-funds", problem.GetProperty("type").GetString());
        Assert.Equal(422, problem.GetProperty("status").GetInt32());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal("application/problem+json", retry.Content.Headers.ContentType?.MediaType);
        Assert.Equal(firstBody, retryBody);
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(100, await tenant.BalanceAsync(from));
    }

    [Fact]
    public async Task Transfer_RetryAfterSuccess_ReplaysSameBytesAndMovesOnce()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 1_000);
        var key = TenantClient.NewKey();

        using var first = await tenant.TransferAsync(from, to, 300, idempotencyKey: key);
        var firstBody = await first.Content.ReadAsByteArrayAsync();
        using var retry = await tenant.TransferAsync(from, to, 300, idempotencyKey: key);
        var retryBody = await retry.Content.ReadAsByteArrayAsync();

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal("true", Assert.Single(retry.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(first.Headers.Location, retry.Headers.Location);
        Assert.Equal(firstBody, retryBody);
        Assert.Equal(700, await tenant.BalanceAsync(from));
        Assert.Equal(300, await tenant.BalanceAsync(to));
        Assert.Equal(1, (await server.Probe.SnapshotAsync(tenant.TenantId)).Transfers);
    }

    [Fact]
    public async Task CreateAccount_RetryAfterSuccess_ReplaysSameAccount()
    {
        var tenant = server.NewTenant();
        var key = TenantClient.NewKey();

        using var first = await tenant.PostAsync("/v1/accounts", """{"currency":"USD"}""", key);
        using var retry = await tenant.PostAsync("/v1/accounts", """{ "currency" : "USD" }""", key);

        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await retry.Content.ReadAsByteArrayAsync());
        Assert.Equal(first.Headers.ETag, retry.Headers.ETag);
        Assert.Equal(1, (await server.Probe.SnapshotAsync(tenant.TenantId)).Accounts);
    }

    [Fact]
    public async Task Transfer_SameKeyDifferentBody_Returns422MismatchAndMovesNothing()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 1_000);
        var key = TenantClient.NewKey();
        using var first = await tenant.TransferAsync(from, to, 300, idempotencyKey: key);

        using var other = await tenant.TransferAsync(from, to, 301, idempotencyKey: key);

        await ProblemAssert.IsProblemAsync(other, HttpStatusCode.UnprocessableEntity, "urn:idem:problem:idempotency-key-mismatch");
        Assert.Equal(700, await tenant.BalanceAsync(from));
    }

    [Fact]
    public async Task Transfer_SameKeyOtherAmount_Returns422NamingAmountAndTheRecordHoldsNoRequestValue()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 1_000);
        var key = TenantClient.NewKey();
        using var first = await tenant.TransferAsync(from, to, 300, idempotencyKey: key);

        using var other = await tenant.TransferAsync(from, to, 301, idempotencyKey: key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        var problem = await ProblemAssert.IsProblemAsync(other, HttpStatusCode.UnprocessableEntity, "urn:idem:problem:idempotency-key-mismatch");
        Assert.Equal(["amount"], problem.GetProperty("fields").EnumerateArray().Select(f => f.GetString()));
        Assert.Contains("'amount'", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(700, await tenant.BalanceAsync(from));

        // Beside the first request's fingerprint, the keys table holds its member names and hashes: none of its values.
        var digest = await server.Probe.BytesAsync("SELECT member_digest FROM idem_keys WHERE key LIKE '%|' || @t", key);
        Assert.NotNull(digest);
        var stored = System.Text.Encoding.Latin1.GetString(digest);
        Assert.Contains("from_account", stored, StringComparison.Ordinal);
        Assert.Contains("amount", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(from, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(to, stored, StringComparison.Ordinal);
        Assert.DoesNotContain("USD", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("300", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_NoIdempotencyKey_Returns400ProblemAndWritesNothing()
    {
        var tenant = server.NewTenant();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/accounts") { Content = new StringContent("""{"currency":"USD"}""", System.Text.Encoding.UTF8, "application/json") };

        using var response = await tenant.SendAsync(request);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:problem:idempotency-key-missing");
        Assert.Equal(0, (await server.Probe.SnapshotAsync(tenant.TenantId)).Accounts);
    }
}
