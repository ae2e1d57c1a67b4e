using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Accounts;

public abstract class HistoryTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : HistoryTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : HistoryTests(server);

    private const string Problem = "urn:idem:payments:problem:";

    [Fact]
    public async Task AsOf_GivesThePostedBalanceAtThatTime()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var first = (await tenant.DepositAsync(account, 100)).GetProperty("created_at").GetDateTime();
        await Task.Delay(20);
        var second = (await tenant.DepositAsync(account, 250)).GetProperty("created_at").GetDateTime();
        Assert.True(second > first);

        var before = await AsOfAsync(tenant, account, first.AddMilliseconds(-1));
        var atFirst = await AsOfAsync(tenant, account, first);
        var between = await AsOfAsync(tenant, account, first.AddMilliseconds(1));
        var now = await AsOfAsync(tenant, account, DateTime.UtcNow.AddMinutes(1));

        Assert.Equal(0, before.GetProperty("balance").GetInt64());
        Assert.Equal(JsonValueKind.Null, before.GetProperty("last_entry").ValueKind);
        Assert.Equal(100, atFirst.GetProperty("balance").GetInt64());
        Assert.Equal(100, between.GetProperty("balance").GetInt64());
        Assert.Equal(350, now.GetProperty("balance").GetInt64());
        Assert.Equal(account, now.GetProperty("id").GetString());
    }

    [Theory]
    [InlineData("/v1/accounts/{0}?as_of=yesterday", "as_of")]
    [InlineData("/v1/accounts/{0}/entries?from=soon", "from")]
    [InlineData("/v1/accounts/{0}/entries?to=2025-13-01T00:00:00Z", "to")]
    [InlineData("/v1/accounts/{0}/entries?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z", "to")]
    public async Task BadTime_Is400NamingTheParameter(string path, string member)
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();

        using var response = await tenant.GetAsync(string.Format(System.Globalization.CultureInfo.InvariantCulture, path, account));

        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.BadRequest, Problem + "invalid-request");
        Assert.True(problem.GetProperty("errors").TryGetProperty(member, out _), problem.GetRawText());
    }

    [Fact]
    public async Task AsOf_OtherTenantsAccount_Is404()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();

        using var response = await server.NewTenant().GetAsync($"/v1/accounts/{account}?as_of=2030-01-01T00:00:00Z");

        await ProblemAssert.IsProblemAsync(response, HttpStatusCode.NotFound, Problem + "account-not-found");
    }

    [Fact]
    public async Task Entries_FromTo_GivesTheEntriesMadeInThatWindow()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var times = new List<DateTime>();
        for (var i = 1; i <= 4; i++)
        {
            times.Add((await tenant.DepositAsync(account, i)).GetProperty("created_at").GetDateTime());
            await Task.Delay(15);
        }

        var page = await PageAsync(tenant, $"/v1/accounts/{account}/entries?from={Iso(times[1])}&to={Iso(times[3])}");

        Assert.Equal([3L, 2L], page.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("amount").GetInt64()));
        Assert.False(page.GetProperty("has_more").GetBoolean());
    }

    [Fact]
    public async Task Entries_PagedWhileNewOnesArrive_NoneSkippedOrRepeated()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        for (var i = 1; i <= 5; i++)
        {
            await tenant.DepositAsync(account, i);
        }

        var seen = new List<long>();
        var page = await PageAsync(tenant, $"/v1/accounts/{account}/entries?limit=2");
        seen.AddRange(page.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("amount").GetInt64()));

        // Writes between two pages are newer than every page already read: the walk goes on where it was.
        for (var i = 100; i < 103; i++)
        {
            await tenant.DepositAsync(account, i);
        }

        while (page.GetProperty("has_more").GetBoolean())
        {
            page = await PageAsync(tenant, $"/v1/accounts/{account}/entries?limit=2&starting_after={page.GetProperty("next_cursor").GetString()}");
            seen.AddRange(page.GetProperty("data").EnumerateArray().Select(e => e.GetProperty("amount").GetInt64()));
        }

        Assert.Equal([5L, 4L, 3L, 2L, 1L], seen);
    }

    private static string Iso(DateTime time) => Uri.EscapeDataString(time.ToUniversalTime().ToString("yyyy-MM-ddTHH:mm:ss.fffZ", System.Globalization.CultureInfo.InvariantCulture));

    private static async Task<JsonElement> AsOfAsync(TenantClient tenant, string account, DateTime time)
        => await PageAsync(tenant, $"/v1/accounts/{account}?as_of={Iso(time)}");

    private static async Task<JsonElement> PageAsync(TenantClient tenant, string path)
    {
        using var response = await tenant.GetAsync(path);
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
    }
}
