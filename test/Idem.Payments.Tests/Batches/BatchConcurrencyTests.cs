using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;
using static Idem.Payments.Tests.Batches.BatchRequests;

namespace Idem.Payments.Tests.Batches;

/// <summary>
/// Batches racing each other and single transfers on the same accounts: never an overdraft, never a deadlock, every
/// applied batch applied whole, balances adding up exactly, the audit clean; one key applies its batch once.
/// </summary>
public abstract class BatchConcurrencyTests(PaymentsServer server, ITestOutputHelper output)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server, ITestOutputHelper output) : BatchConcurrencyTests(server, output);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server, ITestOutputHelper output) : BatchConcurrencyTests(server, output);

    private const int Parallel = 20;

    [Fact]
    public async Task Post_TwentyBatchesOnTheSameAccountsAtOnce_NeverOverdrawAndAddUp()
    {
        var tenant = server.NewTenant();
        var (a, b, c, d) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 1_000);
        await tenant.DepositAsync(d, 1_000);

        // Each batch takes 70 out of a (it starts with 1,000: room for 14 of the 20) and passes money around b, c and d in
        // both directions, its items in an order of their own, so the batches lock overlapping sets of accounts.
        (string, string, long)[] Items(int i) => (i % 2) == 0
            ? [(a, b, 70), (b, c, 50), (d, c, 5), (c, d, 30)]
            : [(d, c, 5), (c, b, 5), (a, c, 70), (c, d, 60), (d, b, 40)];

        var results = await ReleaseTogetherAsync(Parallel, async i =>
        {
            using var response = await tenant.PostBatchAsync(Json(Items(i)));
            return (Index: i, response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        });

        var applied = results.Where(r => r.StatusCode == HttpStatusCode.Created).ToList();
        var refused = results.Where(r => r.StatusCode != HttpStatusCode.Created).ToList();
        output.WriteLine($"{applied.Count} applied, {refused.Count} refused");
        Assert.All(refused, r =>
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, r.StatusCode);
            var problem = JsonDocument.Parse(r.Body).RootElement;
            Assert.Equal(Problem + "batch-item-failed", problem.GetProperty("type").GetString());
            Assert.Equal(Problem + "insufficient-funds", problem.GetProperty("error").GetProperty("type").GetString());
            Assert.Equal($"transfers[{(r.Index % 2 == 0 ? 0 : 2)}].amount", problem.GetProperty("error").GetProperty("param").GetString());
        });

        // All or nothing: the balances are exactly those of the applied batches, each applied whole; a paid for 14.
        Assert.Equal(14, applied.Count);
        var expected = new Dictionary<string, long> { [a] = 1_000, [b] = 0, [c] = 0, [d] = 1_000 };
        foreach (var (from, to, amount) in applied.SelectMany(r => Items(r.Index)))
        {
            expected[from] -= amount;
            expected[to] += amount;
        }

        foreach (var (account, balance) in expected)
        {
            Assert.Equal(balance, await tenant.BalanceAsync(account));
        }

        Assert.Equal(applied.Count, await server.Probe.CountAsync("SELECT COUNT(*) FROM batches WHERE tenant_id = @t", tenant.TenantId));
        Assert.Empty(await server.Probe.InconsistentAccountsAsync());
        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_BatchesAndOppositeTransfersAtOnce_AllApplyWithoutDeadlock()
    {
        var tenant = server.NewTenant();
        var accounts = new string[6];
        for (var i = 0; i < accounts.Length; i++)
        {
            accounts[i] = await tenant.CreateAccountIdAsync();
            await tenant.DepositAsync(accounts[i], 10_000);
        }

        // Batches walk the accounts forwards, single transfers backwards: on PostgreSQL each request locks its accounts in
        // id order whatever order its items name them in, or these would wait on each other in a cycle.
        var batch = Json(Enumerable.Range(0, accounts.Length).Select(i => (accounts[i], accounts[(i + 1) % accounts.Length], 10L)));
        var results = await ReleaseTogetherAsync(2 * Parallel, async i =>
        {
            using var response = i % 2 == 0
                ? await tenant.PostBatchAsync(batch)
                : await tenant.TransferAsync(accounts[(i / 2) % accounts.Length], accounts[((i / 2) + accounts.Length - 1) % accounts.Length], 7);
            return (response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        });

        Assert.All(results, r => Assert.True(r.StatusCode == HttpStatusCode.Created, r.Body));
        var expected = accounts.ToDictionary(a => a, _ => 10_000L);
        for (var i = 1; i < 2 * Parallel; i += 2)
        {
            expected[accounts[(i / 2) % accounts.Length]] -= 7;
            expected[accounts[((i / 2) + accounts.Length - 1) % accounts.Length]] += 7;
        }

        foreach (var (account, balance) in expected)
        {
            Assert.Equal(balance, await tenant.BalanceAsync(account));
        }

        await tenant.AssertAuditCleanAsync();
    }

    [Fact]
    public async Task Post_TwentyIdenticalRequestsWithOneKey_AppliesOnce()
    {
        var tenant = server.NewTenant();
        var (a, b, c) = (await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync(), await tenant.CreateAccountIdAsync());
        await tenant.DepositAsync(a, 1_000);
        var key = TenantClient.NewKey();
        var json = Json([(a, b, 100), (b, c, 60), (a, c, 10)]);

        var results = await ReleaseTogetherAsync(Parallel, async _ =>
        {
            using var response = await tenant.PostBatchAsync(json, key);
            return (response.StatusCode, Replayed: response.Headers.Contains("Idempotent-Replayed"), Body: await response.Content.ReadAsByteArrayAsync());
        });

        var created = results.Where(r => r.StatusCode == HttpStatusCode.Created).ToArray();
        output.WriteLine($"{created.Length} created ({created.Count(r => r.Replayed)} of them replays), {results.Length - created.Length} refused while in progress");
        Assert.Single(created, r => !r.Replayed);
        Assert.All(created, r => Assert.Equal(created[0].Body, r.Body));
        Assert.All(results.Where(r => r.StatusCode != HttpStatusCode.Created), r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        Assert.Equal(890, await tenant.BalanceAsync(a));
        Assert.Equal(40, await tenant.BalanceAsync(b));
        Assert.Equal(70, await tenant.BalanceAsync(c));
        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM batches WHERE tenant_id = @t", tenant.TenantId));
        Assert.Equal(3, (await server.Probe.SnapshotAsync(tenant.TenantId)).Transfers);
        await tenant.AssertAuditCleanAsync();
    }

    /// <summary>Starts <paramref name="count"/> requests that all wait at one barrier, released when the last is ready.</summary>
    private static Task<T[]> ReleaseTogetherAsync<T>(int count, Func<int, Task<T>> request)
    {
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            if (Interlocked.Increment(ref ready) == count)
            {
                go.SetResult();
            }

            await go.Task;
            return await request(i);
        }));
    }
}
