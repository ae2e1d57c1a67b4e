using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using static Idem.Payments.Tests.Batches.BatchRequests;

namespace Idem.Payments.Tests.Batches;

/// <summary>
/// POST /v1/batches applies its transfers all or nothing, in order, under the ledger's limits; GET reads it back. Every
/// money-moving test ends with the tenant's audit clean (batches complete, hash chains intact, limits kept).
/// </summary>
public abstract class BatchEndpointsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : BatchEndpointsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : BatchEndpointsTests(server);

    [Fact]
    public async Task Post_FundedTransfers_AppliesEachInOrderWithEntriesAndEvents()
    {
        var tenant = server.NewTenant();
        var (a, b, c) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 1_000);
        var key = TenantClient.NewKey();

        using var response = await tenant.PostBatchAsync(Json([(a, b, 100), (b, c, 40), (a, c, 250)]), key);

        var batch = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        var id = batch.GetProperty("id").GetString()!;
        Assert.StartsWith("batch_", id, StringComparison.Ordinal);
        Assert.Equal($"/v1/batches/{id}", response.Headers.Location?.OriginalString);
        Assert.Equal("applied", batch.GetProperty("status").GetString());
        Assert.True(batch.TryGetProperty("created_at", out _));
        var transfers = batch.GetProperty("transfers").EnumerateArray().ToList();
        Assert.Equal([(0, a, b, 100L), (1, b, c, 40L), (2, a, c, 250L)],
            transfers.Select(t => (t.GetProperty("index").GetInt32(), t.GetProperty("from_account").GetString(), t.GetProperty("to_account").GetString(), t.GetProperty("amount").GetInt64())));
        Assert.All(transfers, t => Assert.StartsWith("tr_", t.GetProperty("id").GetString(), StringComparison.Ordinal));
        Assert.All(transfers, t => Assert.Equal("USD", t.GetProperty("currency").GetString()));

        Assert.Equal(650, await tenant.BalanceAsync(a));
        Assert.Equal(60, await tenant.BalanceAsync(b));
        Assert.Equal(290, await tenant.BalanceAsync(c));
        var snapshot = await server.Probe.SnapshotAsync(tenant.TenantId);
        Assert.Equal(3, snapshot.Transfers);
        Assert.Equal(2 + 6, snapshot.Entries);
        Assert.Equal(0, snapshot.BalanceTotal);
        for (var i = 0; i < transfers.Count; i++)
        {
            var transfer = transfers[i].GetProperty("id").GetString()!;
            Assert.Equal(1, await server.Probe.CountAsync($"SELECT COUNT(*) FROM transfers WHERE id = @t AND batch_id = '{id}' AND batch_index = {i}", transfer));
            Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"transfer.succeeded:{transfer}"));

            // Each entry is tied to the request that made it.
            Assert.Equal(2, await server.Probe.CountAsync($"SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t AND idempotency_key = '{key}' AND fingerprint IS NOT NULL", transfer));
        }

        // An account's version moves once per entry, as it would with one transfer after another.
        Assert.Equal(1 + 1 + 2, (await tenant.GetAccountAsync(a)).GetProperty("version").GetInt64());
        Assert.Empty(await server.Probe.InconsistentAccountsAsync());
        Assert.Equal(0, await server.Probe.UnbalancedMovementsAsync());
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_ItemSpendsWhatAnEarlierItemCredited_Applies()
    {
        var tenant = server.NewTenant();
        var (a, b, c) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 100);

        // b holds nothing until item 0 has applied; item 1 spends it, item 2 spends it again from c.
        using var response = await tenant.PostBatchAsync((a, b, 100), (b, c, 100), (c, a, 30));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(30, await tenant.BalanceAsync(a));
        Assert.Equal(0, await tenant.BalanceAsync(b));
        Assert.Equal(70, await tenant.BalanceAsync(c));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_ItemFiveOfTenOverdraws_WritesNothingNamesItemAndReplays()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 500);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);
        var key = TenantClient.NewKey();
        var json = Json(Enumerable.Range(0, 10).Select(_ => (a, b, 100L)));

        using var response = await tenant.PostBatchAsync(json, key);

        // Items 0-4 spend the 500; item 5 finds nothing left.
        var problem = await AssertItemFailedAsync(response, failedItem: 5, itemCount: 10, "insufficient-funds", "transfers[5].amount");
        Assert.Contains("transfers[5]", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        Assert.Equal(500, await tenant.BalanceAsync(a));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM batches WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(0, await server.Probe.CountAsync($"SELECT COUNT(*) FROM idem_outbox WHERE aggregate = @t", a));

        // The refusal is the key's answer: the same bytes again, even now that the batch would pass.
        await tenant.DepositAsync(a, 500);
        using var replay = await tenant.PostBatchAsync(json, key);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, replay.StatusCode);
        Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(await response.Content.ReadAsByteArrayAsync(), await replay.Content.ReadAsByteArrayAsync());
        Assert.Equal(1_000, await tenant.BalanceAsync(a));
        await tenant.AssertAuditCleanAsync();
    }

    [Theory]
    [InlineData("""{"transfers":[]}""", "transfers")]
    [InlineData("""{}""", "transfers")]
    [InlineData("""{"transfers":null}""", "transfers")]
    [InlineData("""{"transfers":[null]}""", "transfers[0]")]
    [InlineData("""{"transfers":[{"to_account":"acct_b","amount":1,"currency":"USD"}]}""", "transfers[0].from_account")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"USD"},{"from_account":"acct_a","amount":1,"currency":"USD"}]}""", "transfers[1].to_account")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"USD"},{"from_account":"acct_a","to_account":"acct_b","currency":"USD"}]}""", "transfers[1].amount")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":0,"currency":"USD"}]}""", "transfers[0].amount")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1000000000000001,"currency":"USD"}]}""", "transfers[0].amount")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"XXX"}]}""", "transfers[0].currency")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1}]}""", "transfers[0].currency")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"USD"},{"from_account":"acct_b","to_account":"acct_a","amount":1,"currency":"USD"},{"from_account":"acct_a","to_account":"acct_a","amount":1,"currency":"USD"}]}""", "transfers[2].to_account")]
    public async Task Post_InvalidMember_Returns400ByPathAndWritesNothing(string json, string path)
    {
        var tenant = server.NewTenant();
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.PostBatchAsync(json);

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        var errors = problem.GetProperty("errors");
        Assert.True(errors.TryGetProperty(path, out _), errors.GetRawText());
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
    }

    [Fact]
    public async Task Post_ErrorsInSeveralItems_NamesEachPath()
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostBatchAsync(
            """{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":-1,"currency":"USD"},{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"USD"},{"from_account":"","to_account":"acct_b","amount":1,"currency":"usd!"}]}""");

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        Assert.Equal(["transfers[0].amount", "transfers[2].currency", "transfers[2].from_account"],
            problem.GetProperty("errors").EnumerateObject().Select(e => e.Name).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Post_ThousandAndOneItems_Returns400()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 10_000);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.PostBatchAsync(Json(Enumerable.Range(0, 1_001).Select(_ => (a, b, 1L))));

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        Assert.Equal(["transfers"], problem.GetProperty("errors").EnumerateObject().Select(e => e.Name));
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
    }

    [Fact]
    public async Task Post_ThousandItemsOfLongIds_AcceptedUpTo512KiB()
    {
        var tenant = server.NewTenant();

        // A thousand items with ids of 200 characters (never found, so 422) fit; of 600 characters they are past 512 KiB.
        using var fits = await tenant.PostBatchAsync(Json(Enumerable.Range(0, 1_000).Select(_ => (new string('a', 200), new string('b', 200), 1L))));
        using var tooLarge = await tenant.PostBatchExpectingContinueAsync(Json(Enumerable.Range(0, 1_000).Select(_ => (new string('a', 600), new string('b', 600), 1L))));

        await AssertItemFailedAsync(fits, failedItem: 0, itemCount: 1_000, "account-not-found", "transfers[0].from_account");
        await ProblemAssert.IsProblemAsync(tooLarge, HttpStatusCode.RequestEntityTooLarge, Problem + "malformed-request");
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":"100","currency":"USD"}]}""")]
    [InlineData("""{"transfers":[{"from_account":"acct_a","to_account":"acct_b","amount":1,"currency":"USD","memo":"x"}]}""")]
    [InlineData("""{"transfers":{"from_account":"acct_a"}}""")]
    public async Task Post_NotABatch_Returns400Malformed(string body)
    {
        var tenant = server.NewTenant();

        using var response = await tenant.PostBatchAsync(body);

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "malformed-request");
    }

    [Fact]
    public async Task Post_WithoutIdempotencyKey_Returns400AndRunsNothing()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 100);

        using var response = await tenant.PostBatchWithoutKeyAsync(Json([(a, b, 100)]));

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, "urn:idem:problem:idempotency-key-missing");
        Assert.Equal(100, await tenant.BalanceAsync(a));
    }

    [Fact]
    public async Task Post_UnknownAccountInLaterItem_Returns422NamingItemAndWritesNothing()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 1_000);
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await tenant.PostBatchAsync((a, b, 10), (b, a, 5), (a, "acct_doesnotexist", 1), (a, b, 1));

        await AssertItemFailedAsync(response, failedItem: 2, itemCount: 4, "account-not-found", "transfers[2].to_account");
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_AnotherTenantsAccount_Returns422AccountNotFound()
    {
        var tenant = server.NewTenant();
        var other = server.NewTenant();
        var theirs = await other.CreateAccountIdAsync();
        await other.DepositAsync(theirs, 1_000);
        var mine = await tenant.CreateAccountIdAsync();

        using var response = await tenant.PostBatchAsync((theirs, mine, 100));

        await AssertItemFailedAsync(response, failedItem: 0, itemCount: 1, "account-not-found", "transfers[0].from_account");
        Assert.Equal(1_000, await other.BalanceAsync(theirs));
        Assert.Equal(0, await tenant.BalanceAsync(mine));
    }

    [Fact]
    public async Task Post_CurrencyMismatch_Returns422NamingItem()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        var euros = await tenant.CreateAccountIdAsync("EUR");
        await tenant.DepositAsync(a, 1_000);

        using var response = await tenant.PostBatchAsync((a, b, 10), (a, euros, 10));

        await AssertItemFailedAsync(response, failedItem: 1, itemCount: 2, "currency-mismatch", "transfers[1].to_account");
        Assert.Equal(1_000, await tenant.BalanceAsync(a));
    }

    [Fact]
    public async Task Post_Overdraft_SpendsDownToTheLimitAndNoFurther()
    {
        var tenant = server.NewTenant();
        var a = await tenant.OpenAccountAsync(overdraftLimit: 500);
        var b = await tenant.CreateAccountIdAsync();

        // 300 then 300: the second would take a to -600, past its overdraft of 500.
        using (var refused = await tenant.PostBatchAsync((a, b, 300), (a, b, 300)))
        {
            await AssertItemFailedAsync(refused, failedItem: 1, itemCount: 2, "insufficient-funds", "transfers[1].amount");
        }

        Assert.Equal(0, await tenant.BalanceAsync(a));

        // b sends 100 back in between: a never goes past -500.
        using (var applied = await tenant.PostBatchAsync((a, b, 300), (b, a, 100), (a, b, 300)))
        {
            Assert.Equal(HttpStatusCode.Created, applied.StatusCode);
        }

        Assert.Equal(-500, await tenant.BalanceAsync(a));
        Assert.Equal(500, await tenant.BalanceAsync(b));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_Cap_CountsBalancesAsItemsChangeThem()
    {
        var tenant = server.NewTenant();
        var a = await tenant.CreateAccountIdAsync();
        var capped = await tenant.OpenAccountAsync(maxBalance: 1_000);
        var c = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(a, 5_000);

        using (var refused = await tenant.PostBatchAsync((a, capped, 600), (a, capped, 600)))
        {
            await AssertItemFailedAsync(refused, failedItem: 1, itemCount: 2, "balance-limit-exceeded", "transfers[1].amount");
        }

        Assert.Equal(0, await tenant.BalanceAsync(capped));

        // Emptied in between, the capped account takes both; never holding more than 1,000.
        using (var applied = await tenant.PostBatchAsync((a, capped, 600), (capped, c, 600), (a, capped, 1_000)))
        {
            Assert.Equal(HttpStatusCode.Created, applied.StatusCode);
        }

        Assert.Equal(1_000, await tenant.BalanceAsync(capped));
        Assert.Equal(600, await tenant.BalanceAsync(c));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_ThousandItems_AppliesEveryOne()
    {
        var tenant = server.NewTenant();
        var accounts = new string[20];
        for (var i = 0; i < accounts.Length; i++)
        {
            accounts[i] = await tenant.CreateAccountIdAsync();
            await tenant.DepositAsync(accounts[i], 10_000);
        }

        var items = Enumerable.Range(0, 1_000)
            .Select(i => (From: accounts[i % 20], To: accounts[(i * 7 + 3) % 20 == i % 20 ? (i + 1) % 20 : (i * 7 + 3) % 20], Amount: 1L + (i % 17)))
            .ToList();
        var expected = accounts.ToDictionary(a => a, _ => 10_000L);
        foreach (var (from, to, amount) in items)
        {
            expected[from] -= amount;
            expected[to] += amount;
        }

        using var response = await tenant.PostBatchAsync(Json(items));

        var batch = await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
        Assert.Equal(1_000, batch.GetProperty("transfers").GetArrayLength());
        foreach (var account in accounts)
        {
            Assert.Equal(expected[account], await tenant.BalanceAsync(account));
        }

        var snapshot = await server.Probe.SnapshotAsync(tenant.TenantId);
        Assert.Equal(1_000, snapshot.Transfers);
        Assert.Equal((2 * 20) + 2_000, snapshot.Entries);
        await tenant.AssertAuditCleanAsync();

        using var read = await tenant.GetAsync($"/v1/batches/{batch.GetProperty("id").GetString()}");
        Assert.Equal(batch.GetRawText(), (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetRawText());
    }

    [Fact]
    public async Task Post_SameKeySameBody_ReplaysByteForByteAndAppliesOnce()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 1_000);
        var key = TenantClient.NewKey();
        var json = Json([(a, b, 100), (a, b, 200)]);

        using var first = await tenant.PostBatchAsync(json, key);
        using var second = await tenant.PostBatchAsync(json, key);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal("true", Assert.Single(second.Headers.GetValues("Idempotent-Replayed")));
        Assert.Equal(first.Headers.Location, second.Headers.Location);
        Assert.Equal(await first.Content.ReadAsByteArrayAsync(), await second.Content.ReadAsByteArrayAsync());
        Assert.Equal(700, await tenant.BalanceAsync(a));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM batches WHERE tenant_id = @t", tenant.TenantId));

        // The key is this batch's: another batch under it is refused.
        using var other = await tenant.PostBatchAsync(Json([(a, b, 100)]), key);
        await ProblemAssert.IsProblemAsync(other, HttpStatusCode.UnprocessableEntity, "urn:idem:problem:idempotency-key-mismatch");
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Get_AppliedBatch_ReturnsWhatPostReturned()
    {
        var tenant = server.NewTenant();
        var (a, b) = (await tenant.CreateAccountIdAsync("GBP"), await tenant.CreateAccountIdAsync("GBP"));
        await tenant.DepositAsync(a, 100);
        using var created = await tenant.PostBatchAsync(Json([(a, b, 60), (b, a, 10), (a, b, 50)], "GBP"));
        var batch = await TenantClient.ReadJsonAsync(created, HttpStatusCode.Created);

        using var response = await tenant.GetAsync($"/v1/batches/{batch.GetProperty("id").GetString()}");

        Assert.Equal(batch.GetRawText(), (await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK)).GetRawText());
    }

    [Fact]
    public async Task Get_UnknownOrAnotherTenants_Returns404Problem()
    {
        var tenant = server.NewTenant();
        var other = server.NewTenant();
        var (a, b) = (await other.CreateAccountIdAsync(), await other.CreateAccountIdAsync());
        await other.DepositAsync(a, 100);
        using var created = await other.PostBatchAsync((a, b, 1));
        var theirs = (await TenantClient.ReadJsonAsync(created, HttpStatusCode.Created)).GetProperty("id").GetString();

        foreach (var id in new[] { "batch_doesnotexist", theirs })
        {
            using var response = await tenant.GetAsync($"/v1/batches/{id}");
            await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "batch-not-found");
        }
    }

    [Fact]
    public async Task OpenApiDocument_Batches_DocumentedWithKeyAndProblems()
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var paths = document.RootElement.GetProperty("paths");

        var post = paths.GetProperty("/v1/batches").GetProperty("post");
        Assert.Contains("Idempotency-Key", post.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
        var responses = post.GetProperty("responses");
        Assert.True(responses.GetProperty("201").GetProperty("content").GetProperty("application/json").TryGetProperty("schema", out _));
        foreach (var status in new[] { "400", "409", "413", "422", "503" })
        {
            Assert.True(responses.TryGetProperty(status, out _), $"POST /v1/batches does not document {status}.");
        }

        var get = paths.GetProperty("/v1/batches/{id}").GetProperty("get").GetProperty("responses");
        Assert.True(get.GetProperty("404").GetProperty("content").TryGetProperty("application/problem+json", out _));
    }
}
