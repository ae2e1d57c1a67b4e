using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.Tests.Transfers;

public abstract class ConcurrencyTests(PaymentsServer server, ITestOutputHelper output)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server, ITestOutputHelper output) : ConcurrencyTests(server, output);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server, ITestOutputHelper output) : ConcurrencyTests(server, output);

    private const int Parallel = 50;

    [Fact]
    public async Task Transfer_FiftyIdenticalRequestsAtOnce_MovesMoneyExactlyOnce()
    {
        var tenant = server.NewTenant();
        var from = await tenant.CreateAccountIdAsync();
        var to = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(from, 10_000);
        var key = TenantClient.NewKey();
        var fromEntries = await server.Probe.EntryCountAsync(from);

        // Every request is built and waiting before any is sent: an async barrier releases all of them together.
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, Parallel).Select(async _ =>
        {
            if (Interlocked.Increment(ref ready) == Parallel)
            {
                go.SetResult();
            }

            await go.Task;
            using var response = await tenant.TransferAsync(from, to, 1_234, idempotencyKey: key);
            return (response.StatusCode, Replayed: response.Headers.Contains("Idempotent-Replayed"), Body: await response.Content.ReadAsByteArrayAsync());
        }).ToArray();
        var results = await Task.WhenAll(requests);

        var created = results.Where(r => r.StatusCode == HttpStatusCode.Created).ToArray();
        var others = results.Where(r => r.StatusCode != HttpStatusCode.Created).ToArray();
        output.WriteLine($"{created.Length} created ({created.Count(r => r.Replayed)} of them replays), {others.Length} refused while in progress");
        Assert.Single(created, r => !r.Replayed);
        Assert.All(created, r => Assert.Equal(created[0].Body, r.Body));
        Assert.All(others, r => Assert.Equal(HttpStatusCode.Conflict, r.StatusCode));
        Assert.Equal(10_000 - 1_234, await tenant.BalanceAsync(from));
        Assert.Equal(1_234, await tenant.BalanceAsync(to));
        Assert.Equal(fromEntries + 1, await server.Probe.EntryCountAsync(from));
        Assert.Equal(1, await server.Probe.EntryCountAsync(to));
        Assert.Equal(1, (await server.Probe.SnapshotAsync(tenant.TenantId)).Transfers);

        // After the storm, the key replays the one success.
        using var late = await tenant.TransferAsync(from, to, 1_234, idempotencyKey: key);
        Assert.Equal(HttpStatusCode.Created, late.StatusCode);
        Assert.Equal(created[0].Body, await late.Content.ReadAsByteArrayAsync());
    }

    [Fact]
    public async Task Transfer_OppositeDirectionsInParallel_AllCompleteAndBalancesAddUp()
    {
        var tenant = server.NewTenant();
        var a = await tenant.CreateAccountIdAsync();
        var b = await tenant.CreateAccountIdAsync();
        await tenant.DepositAsync(a, 1_000);
        await tenant.DepositAsync(b, 1_000);

        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, 20).Select(async i =>
        {
            await go.Task;
            using var response = i % 2 == 0 ? await tenant.TransferAsync(a, b, 10) : await tenant.TransferAsync(b, a, 15);
            return response.StatusCode;
        }).ToArray();
        go.SetResult();
        var statuses = await Task.WhenAll(requests);

        Assert.All(statuses, s => Assert.Equal(HttpStatusCode.Created, s));
        Assert.Equal(1_000 - (10 * 10) + (10 * 15), await tenant.BalanceAsync(a));
        Assert.Equal(1_000 + (10 * 10) - (10 * 15), await tenant.BalanceAsync(b));
        Assert.Empty(await server.Probe.InconsistentAccountsAsync());
    }
}
