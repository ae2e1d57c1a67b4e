using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.Tests.Nodes;

/// <summary>
/// A real service process on a PostgreSQL cluster of the test's own, which the test stops (as in a crash) and starts
/// again while transfers are streaming in.
/// </summary>
[Collection(ProcessTests.Collection)]
public sealed class PostgresRestartTests(ITestOutputHelper output)
{
    private const string StoreUnavailable = "urn:idem:problem:store-unavailable";
    private const string DatabaseUnavailable = "urn:idem:payments:problem:database-unavailable";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    private enum Phase
    {
        Up,
        Stopping,
        Down,
        Starting,
        UpAgain,
    }

    [Fact]
    public async Task PostgresRestartedUnderLoad_503WhileDown_ThenEveryRetriedKeyCompletesExactlyOnce()
    {
        const int Workers = 8;
        const int Threshold = 20;
        const long Funding = 1_000_000;
        await using var cluster = await PrivatePostgresCluster.CreateAsync();
        await using var node = await PaymentsProcess.StartAsync("node", PostgresPaymentsServer.Arguments(cluster.ConnectionString(10, "idem-payments-node")));
        var tenant = new TenantClient(node.Http, "sk_test_" + Guid.NewGuid().ToString("N"));
        var plan = await TransferPlan.CreateAsync(tenant, accountCount: 4, Funding, "restart");

        // Workers stream transfers, each with a new key, through all phases: Threshold created while up, then an
        // immediate stop; Threshold answers sent and received while down, then a start; Threshold created once it is
        // back, then the load ends.
        var phase = (int)Phase.Up;
        var answers = new ConcurrentDictionary<int, (Phase Sent, Phase Answered, HttpStatusCode Status, string? Type, bool RetryAfter, byte[] Body)>();
        var next = -1;
        var createdUp = 0;
        var answeredDown = 0;
        var createdUpAgain = 0;
        var stopNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var startNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var endNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!endNow.Task.IsCompleted)
            {
                var index = Interlocked.Increment(ref next);
                var sent = (Phase)Volatile.Read(ref phase);
                using var response = await plan.SendAsync(tenant, index);
                var body = await response.Content.ReadAsByteArrayAsync();
                var answered = (Phase)Volatile.Read(ref phase);
                var type = response.Content.Headers.ContentType?.MediaType == "application/problem+json"
                    ? JsonDocument.Parse(body).RootElement.GetProperty("type").GetString()
                    : null;
                answers[index] = (sent, answered, response.StatusCode, type, response.Headers.RetryAfter is not null, body);
                var created = response.StatusCode == HttpStatusCode.Created;
                if (created && sent == Phase.Up && Interlocked.Increment(ref createdUp) == Threshold)
                {
                    stopNow.TrySetResult();
                }

                if (sent == Phase.Down && answered == Phase.Down && Interlocked.Increment(ref answeredDown) == Threshold)
                {
                    startNow.TrySetResult();
                }

                if (created && sent == Phase.UpAgain && Interlocked.Increment(ref createdUpAgain) == Threshold)
                {
                    endNow.TrySetResult();
                }
            }
        })).ToArray();
        var all = Task.WhenAll(workers);

        await Task.WhenAny(stopNow.Task, all).Unwrap().WaitAsync(Patience);
        Volatile.Write(ref phase, (int)Phase.Stopping);
        await cluster.StopImmediateAsync();
        Volatile.Write(ref phase, (int)Phase.Down);
        await Task.WhenAny(startNow.Task, all).Unwrap().WaitAsync(Patience);
        Volatile.Write(ref phase, (int)Phase.Starting);
        await cluster.StartAsync();
        Volatile.Write(ref phase, (int)Phase.UpAgain);
        await Task.WhenAny(endNow.Task, all).Unwrap().WaitAsync(Patience);
        await all.WaitAsync(Patience);

        var keys = answers.Count;
        output.WriteLine(string.Join(", ", answers.Values.GroupBy(a => (a.Sent, a.Status)).OrderBy(g => g.Key).Select(g => $"{g.Key.Sent} {(int)g.Key.Status}: {g.Count()}")));

        // While it was down, and around it, every answer was a clean 503 problem with Retry-After: never a 500.
        Assert.All(answers, pair =>
        {
            var a = pair.Value;
            Assert.True(a.Status is HttpStatusCode.Created or HttpStatusCode.ServiceUnavailable, $"transfer {pair.Key} sent {a.Sent}: {(int)a.Status} {System.Text.Encoding.UTF8.GetString(a.Body)}");
            if (a.Status == HttpStatusCode.ServiceUnavailable)
            {
                Assert.Contains(a.Type, new[] { StoreUnavailable, DatabaseUnavailable });
                Assert.True(a.RetryAfter, $"transfer {pair.Key}: 503 without Retry-After");
            }
        });
        Assert.All(answers.Values.Where(a => a.Sent == Phase.Down && a.Answered == Phase.Down), a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Status));
        Assert.True(answers.Values.Count(a => a.Sent == Phase.Down && a.Answered == Phase.Down) >= Threshold);

        // Every key the load used is retried once the database is back, and each completes.
        var retries = new (HttpStatusCode Status, bool Replayed, byte[] Body)[keys];
        await Parallel.ForEachAsync(Enumerable.Range(0, keys), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (index, _) => retries[index] = await plan.SendUntilFinalAsync(tenant, index)).WaitAsync(Patience);
        for (var index = 0; index < keys; index++)
        {
            Assert.True(retries[index].Status == HttpStatusCode.Created, $"transfer {index}: {(int)retries[index].Status} {System.Text.Encoding.UTF8.GetString(retries[index].Body)}");
            if (answers[index].Status == HttpStatusCode.Created)
            {
                Assert.True(retries[index].Replayed, $"transfer {index} ran again");
                Assert.Equal(answers[index].Body, retries[index].Body);
            }
        }

        // Exactly once: one transfer per key, the balances the plan says, a ledger that sums to zero.
        var probe = LedgerProbe.Postgres(cluster.ConnectionString(2, "probe"));
        Assert.Equal(keys, retries.Select(r => TransferPlan.TransferIdOf(r.Body)).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(keys, (await probe.SnapshotAsync(tenant.TenantId)).Transfers);
        Assert.Equal(plan.ExpectedBalances(Enumerable.Range(0, keys), Funding), await plan.BalancesAsync(tenant));
        Assert.All(await probe.EntrySumsByCurrencyAsync(), pair => Assert.Equal(0, pair.Value));
        Assert.Empty(await probe.InconsistentAccountsAsync());
        Assert.Equal(0, await probe.UnbalancedMovementsAsync());

        // Nothing ran without a claim: every transfer has its key's completed record beside it, and no key is left in progress.
        Assert.Equal(keys, await probe.CountAsync("SELECT COUNT(*) FROM idem_keys WHERE state = 1 AND status = 201 AND key LIKE '%|restart-%'"));
        Assert.Equal(0, await probe.CountAsync("SELECT COUNT(*) FROM idem_keys WHERE state = 0"));
    }
}
