using System.Net;
using System.Text;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Accounts;

/// <summary><c>PATCH /v1/accounts/{id}</c>: optimistic concurrency with <c>ETag</c> / <c>If-Match</c> on the version column.</summary>
public abstract class AccountUpdateTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : AccountUpdateTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : AccountUpdateTests(server);

    private const string Invalid = "urn:idem:payments:problem:invalid-request";
    private const string Malformed = "urn:idem:payments:problem:malformed-request";
    private const string PreconditionFailed = "urn:idem:payments:problem:precondition-failed";

    [Fact]
    public async Task Patch_CurrentETag_Returns200WithChangesAndANewETag()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();

        using var response = await PatchAsync(tenant, id, "\"1\"", """{"nickname":"Rent","metadata":{"purpose":"rent"}}""");

        var account = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.Equal("Rent", account.GetProperty("nickname").GetString());
        Assert.Equal("""{"purpose":"rent"}""", account.GetProperty("metadata").GetRawText());
        Assert.Equal(2, account.GetProperty("version").GetInt64());
        Assert.Equal("\"2\"", response.Headers.ETag?.ToString());
        using var read = await tenant.GetAsync($"/v1/accounts/{id}");
        Assert.Equal("\"2\"", read.Headers.ETag?.ToString());
        Assert.Equal(account.GetRawText(), (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetRawText());
    }

    [Fact]
    public async Task Patch_OneMember_LeavesTheOtherAndNullClears()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        (await PatchAsync(tenant, id, "\"1\"", """{"nickname":"Rent","metadata":{"a":"1"}}""")).Dispose();

        using var nickname = await PatchAsync(tenant, id, "\"2\"", """{"nickname":null}""");
        var afterNickname = await TenantClient.ReadJsonAsync(nickname, HttpStatusCode.OK);
        using var metadata = await PatchAsync(tenant, id, "\"3\"", """{"metadata":null}""");
        var afterMetadata = await TenantClient.ReadJsonAsync(metadata, HttpStatusCode.OK);

        Assert.Equal(JsonValueKind.Null, afterNickname.GetProperty("nickname").ValueKind);
        Assert.Equal("""{"a":"1"}""", afterNickname.GetProperty("metadata").GetRawText());
        Assert.Equal("{}", afterMetadata.GetProperty("metadata").GetRawText());
        Assert.Equal(4, afterMetadata.GetProperty("version").GetInt64());
    }

    [Fact]
    public async Task Patch_NoIfMatch_Returns428AndChangesNothing()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();

        using var response = await PatchAsync(tenant, id, ifMatch: null, """{"nickname":"Rent"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.PreconditionRequired, "urn:idem:payments:problem:precondition-required");
        await AssertUnchangedAsync(tenant, id, version: 1);
    }

    [Fact]
    public async Task Patch_ETagFromBeforeADeposit_Returns412WithTheCurrentETagAndChangesNothing()
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(id, 100);

        using var response = await PatchAsync(tenant, id, "\"1\"", """{"nickname":"Rent"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.PreconditionFailed, PreconditionFailed);
        Assert.Equal("\"2\"", response.Headers.ETag?.ToString());
        await AssertUnchangedAsync(tenant, id, version: 2);
    }

    [Fact]
    public async Task Patch_TwentyAtOnceWithOneETag_ExactlyOneWins()
    {
        const int Parallel = 20;
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var results = await Task.WhenAll(Enumerable.Range(0, Parallel).Select(async i =>
        {
            if (Interlocked.Increment(ref ready) == Parallel)
            {
                go.SetResult();
            }

            await go.Task;
            using var response = await PatchAsync(tenant, id, "\"1\"", $$$"""{"nickname":"writer {{{i}}}"}""");
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }));

        var winner = Assert.Single(results, r => r.StatusCode == HttpStatusCode.OK);
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.PreconditionFailed, r.StatusCode));
        var account = await tenant.GetAccountAsync(id);
        Assert.Equal(2, account.GetProperty("version").GetInt64());
        Assert.Equal(JsonDocument.Parse(winner.Body).RootElement.GetProperty("nickname").GetString(), account.GetProperty("nickname").GetString());
    }

    [Fact]
    public async Task Patch_OtherTenantsAccount_Returns404AndChangesNothing()
    {
        var owner = server.NewTenant();
        var other = server.NewTenant();
        var id = await owner.CreateAccountIdAsync();

        using var response = await PatchAsync(other, id, "\"1\"", """{"nickname":"Mine now"}""");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found");
        await AssertUnchangedAsync(owner, id, version: 1);
    }

    [Fact]
    public async Task Patch_ThenMoveMoney_LedgerStaysConsistent()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 1_000);
        (await PatchAsync(tenant, from, "\"2\"", """{"nickname":"Savings"}""")).Dispose();

        using var transfer = await tenant.TransferAsync(from, to, 400);

        Assert.Equal(HttpStatusCode.Created, transfer.StatusCode);
        var account = await tenant.GetAccountAsync(from);
        Assert.Equal(600, account.GetProperty("balance").GetInt64());
        Assert.Equal(4, account.GetProperty("version").GetInt64());
        Assert.Equal("Savings", account.GetProperty("nickname").GetString());
        Assert.Empty(await server.Probe.InconsistentAccountsAsync());
    }

    // {id}: the tenant's account (version 1). Every case is refused before anything is written.
    public static TheoryData<string, string, string?, string, HttpStatusCode, string> BadPatches => new()
    {
        { "If-Match not quoted", "{id}", "1", """{"nickname":"x"}""", HttpStatusCode.BadRequest, Invalid },
        { "If-Match any", "{id}", "*", """{"nickname":"x"}""", HttpStatusCode.BadRequest, Invalid },
        { "If-Match two tags", "{id}", "\"1\", \"2\"", """{"nickname":"x"}""", HttpStatusCode.BadRequest, Invalid },
        { "If-Match weak", "{id}", "W/\"1\"", """{"nickname":"x"}""", HttpStatusCode.PreconditionFailed, PreconditionFailed },
        { "If-Match not a version", "{id}", "\"abc\"", """{"nickname":"x"}""", HttpStatusCode.PreconditionFailed, PreconditionFailed },
        { "If-Match a future version", "{id}", "\"9\"", """{"nickname":"x"}""", HttpStatusCode.PreconditionFailed, PreconditionFailed },
        { "not JSON", "{id}", "\"1\"", "nickname=x", HttpStatusCode.BadRequest, Malformed },
        { "truncated JSON", "{id}", "\"1\"", """{"nickname":""", HttpStatusCode.BadRequest, Malformed },
        { "repeated member", "{id}", "\"1\"", """{"nickname":"a","nickname":"b"}""", HttpStatusCode.BadRequest, Malformed },
        { "empty body", "{id}", "\"1\"", "", HttpStatusCode.BadRequest, Malformed },
        { "form body", "{id}", "\"1\"", "form:nickname=x", HttpStatusCode.UnsupportedMediaType, "urn:idem:payments:problem:unsupported-media-type" },
        { "body an array", "{id}", "\"1\"", "[]", HttpStatusCode.BadRequest, Invalid },
        { "body a string", "{id}", "\"1\"", "\"x\"", HttpStatusCode.BadRequest, Invalid },
        { "nothing to change", "{id}", "\"1\"", "{}", HttpStatusCode.BadRequest, Invalid },
        { "unknown member", "{id}", "\"1\"", """{"balance":1000000}""", HttpStatusCode.BadRequest, Invalid },
        { "known and unknown member", "{id}", "\"1\"", """{"nickname":"x","version":7}""", HttpStatusCode.BadRequest, Invalid },
        { "nickname a number", "{id}", "\"1\"", """{"nickname":5}""", HttpStatusCode.BadRequest, Invalid },
        { "nickname blank", "{id}", "\"1\"", """{"nickname":" "}""", HttpStatusCode.BadRequest, Invalid },
        { "nickname too long", "{id}", "\"1\"", $$$"""{"nickname":"{{{new string('n', 101)}}}"}""", HttpStatusCode.BadRequest, Invalid },
        { "metadata an array", "{id}", "\"1\"", """{"metadata":["a"]}""", HttpStatusCode.BadRequest, Invalid },
        { "metadata value a number", "{id}", "\"1\"", """{"metadata":{"a":1}}""", HttpStatusCode.BadRequest, Invalid },
        { "metadata too many keys", "{id}", "\"1\"", $$$"""{"metadata":{{{{string.Join(',', Enumerable.Range(0, 21).Select(i => $"\"k{i}\":\"v\""))}}}}}""", HttpStatusCode.BadRequest, Invalid },
        { "metadata value too long", "{id}", "\"1\"", $$$"""{"metadata":{"k":"{{{new string('v', 501)}}}"}}""", HttpStatusCode.BadRequest, Invalid },
        { "id with a dot", "acct.1", "\"1\"", """{"nickname":"x"}""", HttpStatusCode.BadRequest, Invalid },
        { "id too long", new string('a', 65), "\"1\"", """{"nickname":"x"}""", HttpStatusCode.BadRequest, Invalid },
        { "unknown id", "acct_000000000000000000000000", "\"1\"", """{"nickname":"x"}""", HttpStatusCode.NotFound, "urn:idem:payments:problem:account-not-found" },
    };

    [Theory]
    [MemberData(nameof(BadPatches), MemberType = typeof(AccountUpdateTests))]
    public async Task Patch_BadInput_ReturnsProblemAndChangesNothing(string scenario, string path, string? ifMatch, string body, HttpStatusCode status, string type)
    {
        var tenant = server.NewTenant();
        var id = await tenant.CreateAccountIdAsync();
        var before = await server.Probe.SnapshotAsync(tenant.TenantId);

        using var response = await PatchAsync(tenant, path.Replace("{id}", id, StringComparison.Ordinal), ifMatch, body);

        var problem = await ProblemAssert.IsProblemAsync(response, status, type);
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("detail").GetString()), scenario);
        Assert.Equal(before, await server.Probe.SnapshotAsync(tenant.TenantId));
        await AssertUnchangedAsync(tenant, id, version: 1);
    }

    private static async Task AssertUnchangedAsync(TenantClient tenant, string id, long version)
    {
        var account = await tenant.GetAccountAsync(id);
        Assert.Equal(version, account.GetProperty("version").GetInt64());
        Assert.Equal(JsonValueKind.Null, account.GetProperty("nickname").ValueKind);
        Assert.Equal("{}", account.GetProperty("metadata").GetRawText());
    }

    private static Task<HttpResponseMessage> PatchAsync(TenantClient tenant, string id, string? ifMatch, string json)
    {
        // "form:…" sends the rest as a form body instead of JSON.
        var content = json.StartsWith("form:", StringComparison.Ordinal)
            ? new StringContent(json["form:".Length..], Encoding.UTF8, "application/x-www-form-urlencoded")
            : new StringContent(json, Encoding.UTF8, "application/json");
        var request = new HttpRequestMessage(HttpMethod.Patch, $"/v1/accounts/{id}") { Content = content };
        if (ifMatch is not null)
        {
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return tenant.SendAsync(request);
    }
}
