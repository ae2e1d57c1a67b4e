using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.Tests.Holds;

public abstract class HoldRaceTests(PaymentsServer server, ITestOutputHelper output)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server, ITestOutputHelper output) : HoldRaceTests(server, output);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server, ITestOutputHelper output) : HoldRaceTests(server, output);

    private const int Parallel = 20;

    [Fact]
    public async Task Capture_TwentyAtOnceWithTheirOwnKeys_CapturesTheHoldOnce()
    {
        var (tenant, from, to) = await HoldEndpointsTests.FundedPairAsync(server, 1_000);
        var id = (await HoldEndpointsTests.CreateHoldAsync(tenant, from, to, 600)).GetProperty("id").GetString()!;

        var responses = await AllAtOnceAsync(i => tenant.PostAsync($"/v1/holds/{id}/capture", $$"""{"amount":{{500 + i}}}"""));

        // Every request reached the ledger (none was refused for its key), and exactly one found the hold pending.
        var captured = responses.Where(r => r.Status == HttpStatusCode.OK).ToArray();
        Assert.Single(captured);
        Assert.All(responses.Where(r => r.Status != HttpStatusCode.OK), r => Assert.Equal(HttpStatusCode.Conflict, r.Status));
        var amount = JsonDocument.Parse(captured[0].Body).RootElement.GetProperty("captured_amount").GetInt64();
        Assert.Equal(1_000 - amount, await tenant.BalanceAsync(from));
        Assert.Equal(amount, await tenant.BalanceAsync(to));
        Assert.Equal(2, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(from), posted: 1_000 - amount, pending: 1_000 - amount, available: 1_000 - amount);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task CaptureAndVoid_Racing_ExactlyOneWins()
    {
        var (tenant, from, to) = await HoldEndpointsTests.FundedPairAsync(server, 1_000);
        var id = (await HoldEndpointsTests.CreateHoldAsync(tenant, from, to, 400)).GetProperty("id").GetString()!;

        var responses = await AllAtOnceAsync(i => tenant.PostAsync($"/v1/holds/{id}/{(i % 2 == 0 ? "capture" : "void")}", "{}"));

        Assert.Single(responses, r => r.Status == HttpStatusCode.OK);
        Assert.Equal(Parallel - 1, responses.Count(r => r.Status == HttpStatusCode.Conflict));
        using var read = await tenant.GetAsync($"/v1/holds/{id}");
        var status = (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetProperty("status").GetString();
        Assert.Equal(status == "captured" ? 400 : 0, await tenant.BalanceAsync(to));
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Holds_TwentyAtOnceOnOneAccount_NeverReserveMoreThanItHolds()
    {
        var (tenant, from, to) = await HoldEndpointsTests.FundedPairAsync(server, 1_000);

        var responses = await AllAtOnceAsync(_ => HoldEndpointsTests.PostHoldAsync(tenant, from, to, 150));

        // 1,000 covers six holds of 150: the other fourteen were refused, whatever order they came in.
        Assert.Equal(6, responses.Count(r => r.Status == HttpStatusCode.Created));
        Assert.Equal(Parallel - 6, responses.Count(r => r.Status == HttpStatusCode.UnprocessableEntity));
        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(from), posted: 1_000, pending: 100, available: 100);
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Capture_RacingExpiry_EachHoldEitherCapturedOrExpired_NeverBoth()
    {
        var (tenant, from, to) = await HoldEndpointsTests.FundedPairAsync(server, 10_000);
        var holds = new List<(string Id, DateTime ExpiresAt)>();
        for (var i = 0; i < 12; i++)
        {
            var hold = await HoldEndpointsTests.CreateHoldAsync(tenant, from, to, 100, expiresIn: 2);
            holds.Add((hold.GetProperty("id").GetString()!, hold.GetProperty("expires_at").GetDateTime()));
        }

        // Each capture is sent at a moment around its hold's expiry, from well before to well after, while the expirer
        // runs: some must find the hold pending, some expired, and none both.
        var attempts = holds.Select(async (hold, i) =>
        {
            var at = hold.ExpiresAt.AddMilliseconds(-900 + (i * 1_800 / (holds.Count - 1)));
            var wait = at - DateTime.UtcNow;
            if (wait > TimeSpan.Zero)
            {
                await Task.Delay(wait);
            }

            using var response = await tenant.PostAsync($"/v1/holds/{hold.Id}/capture", "{}");
            return (hold.Id, response.StatusCode);
        }).ToArray();
        var results = await Task.WhenAll(attempts);

        var captured = 0;
        foreach (var (id, status) in results)
        {
            using var read = await tenant.GetAsync($"/v1/holds/{id}");
            var state = (await TenantClient.ReadJsonAsync(read, HttpStatusCode.OK)).GetProperty("status").GetString();
            Assert.Equal(status == HttpStatusCode.OK ? "captured" : "expired", state);
            Assert.True(status is HttpStatusCode.OK or HttpStatusCode.Conflict, $"{id}: {status}");
            Assert.Equal(status == HttpStatusCode.OK ? 2 : 0, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries WHERE movement_id = @t", id));
            captured += status == HttpStatusCode.OK ? 1 : 0;
        }

        output.WriteLine($"{captured} captured, {results.Length - captured} expired");
        Assert.InRange(captured, 1, results.Length - 1);
        HoldEndpointsTests.AssertBalances(await tenant.GetAccountAsync(from), posted: 10_000 - (100 * captured), pending: 10_000 - (100 * captured), available: 10_000 - (100 * captured));
        await tenant.AssertAuditCleanAsync();
    }

    // Every request is built and waiting before any is sent: an async barrier releases all of them together.
    private static async Task<(HttpStatusCode Status, string Body)[]> AllAtOnceAsync(Func<int, Task<HttpResponseMessage>> send)
    {
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, Parallel).Select(async i =>
        {
            if (Interlocked.Increment(ref ready) == Parallel)
            {
                go.SetResult();
            }

            await go.Task;
            using var response = await send(i);
            return (response.StatusCode, await response.Content.ReadAsStringAsync());
        }).ToArray();
        return await Task.WhenAll(requests);
    }
}
