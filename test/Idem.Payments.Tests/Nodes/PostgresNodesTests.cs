using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Npgsql;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.Tests.Nodes;

/// <summary>
/// Two real service processes on loopback sharing one PostgreSQL database (a fresh one per test): what a client sees
/// when its retries land on different nodes, and when a node dies mid-request.
/// </summary>
[Collection(ProcessTests.Collection)]
public sealed class PostgresNodesTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData(ConcurrentRequestHandling.WaitThenReplay)]
    [InlineData(ConcurrentRequestHandling.Conflict)]
    public async Task TwoNodes_200ParallelRequestsWithOneKey_MoveMoneyExactlyOnce(ConcurrentRequestHandling waitPolicy)
    {
        const int Requests = 200;
        await using var database = await PostgresDatabase.CreateAsync();
        await using var nodes = await NodePair.StartAsync(database, "--Idempotency:ConcurrentRequests=" + waitPolicy);
        var onA = nodes.A.NewTenant();
        var onB = new TenantClient(nodes.B.Http, onA.ApiKey);
        var from = await onA.CreateAccountIdAsync();
        var to = await onA.CreateAccountIdAsync();
        await onA.DepositAsync(from, 10_000);
        var key = TenantClient.NewKey();
        var probe = LedgerProbe.Postgres(database.ConnectionString(2, "probe"));

        // Every request is built and waiting before any is sent; the last one ready releases them all. Even ones go to
        // node A, odd ones to node B.
        var ready = 0;
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var results = await Task.WhenAll(Enumerable.Range(0, Requests).Select(async i =>
        {
            var client = i % 2 == 0 ? onA : onB;
            if (Interlocked.Increment(ref ready) == Requests)
            {
                go.SetResult();
            }

            await go.Task;
            using var response = await client.TransferAsync(from, to, 1_234, idempotencyKey: key);
            var body = await response.Content.ReadAsByteArrayAsync();
            return (Node: i % 2, response.StatusCode, Replayed: response.Headers.Contains("Idempotent-Replayed"), Body: body);
        })).WaitAsync(Patience);

        var created = results.Where(r => r.StatusCode == HttpStatusCode.Created).ToArray();
        var others = results.Where(r => r.StatusCode != HttpStatusCode.Created).ToArray();
        output.WriteLine($"{waitPolicy}: {created.Length} created ({created.Count(r => r.Replayed)} replays; node A {created.Count(r => r.Node == 0)}, node B {created.Count(r => r.Node == 1)}), {others.Length} other");
        var original = Assert.Single(created, r => !r.Replayed);
        Assert.All(created, r => Assert.Equal(original.Body, r.Body));
        if (waitPolicy == ConcurrentRequestHandling.WaitThenReplay)
        {
            Assert.Empty(others);
        }
        else
        {
            Assert.All(others, r =>
            {
                Assert.Equal(HttpStatusCode.Conflict, r.StatusCode);
                Assert.Equal("urn:idem:problem:request-in-progress", JsonDocument.Parse(r.Body).RootElement.GetProperty("type").GetString());
            });
        }

        Assert.Equal(10_000 - 1_234, await onB.BalanceAsync(from));
        Assert.Equal(1_234, await onA.BalanceAsync(to));
        Assert.Equal(1, (await probe.SnapshotAsync(onA.TenantId)).Transfers);
        Assert.Equal(2, await probe.EntryCountAsync(from)); // the deposit's and the one transfer's

        // After the storm, each node replays the one success.
        foreach (var client in new[] { onA, onB })
        {
            using var late = await client.TransferAsync(from, to, 1_234, idempotencyKey: key);
            Assert.Equal(HttpStatusCode.Created, late.StatusCode);
            Assert.Equal(original.Body, await late.Content.ReadAsByteArrayAsync());
        }
    }

    [Fact]
    public async Task NodeKilledMidTransfers_EveryTransferRetriedOnTheOtherNode_HappensExactlyOnce()
    {
        const int Transfers = 150;
        const int Workers = 12;
        const int KillAfter = 30;
        const long Funding = 1_000_000;
        await using var database = await PostgresDatabase.CreateAsync();
        await using var nodes = await NodePair.StartAsync(database, "--Idempotency:LeaseDuration=00:00:05");
        var onB = nodes.B.NewTenant();
        var onA = new TenantClient(nodes.A.Http, onB.ApiKey);
        var plan = await TransferPlan.CreateAsync(onB, accountCount: 4, Funding, "kill");
        var probe = LedgerProbe.Postgres(database.ConnectionString(2, "probe"));

        // Workers stream the plan's transfers at node A; once KillAfter have been answered, A is killed with requests in flight.
        var firstAnswers = new ConcurrentDictionary<int, (HttpStatusCode Status, byte[] Body)>();
        var next = -1;
        var answered = 0;
        var inFlight = 0;
        var lost = 0;
        var stop = false;
        var killNow = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!Volatile.Read(ref stop))
            {
                var index = Interlocked.Increment(ref next);
                if (index >= Transfers)
                {
                    return;
                }

                Interlocked.Increment(ref inFlight);
                try
                {
                    using var response = await plan.SendAsync(onA, index);
                    firstAnswers[index] = (response.StatusCode, await response.Content.ReadAsByteArrayAsync());
                    if (Interlocked.Increment(ref answered) == KillAfter)
                    {
                        killNow.TrySetResult();
                    }
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref lost);
                    return;
                }
                finally
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }
        })).ToArray();

        await killNow.Task.WaitAsync(Patience);

        // Hold every account of the tenant locked, so the transfers A is running wait inside its transactions; kill A only
        // once PostgreSQL shows at least one of its sessions waiting on that lock. The kill then always lands on work
        // in flight, however fast the rest went.
        await using var holder = new NpgsqlConnection(database.ConnectionString(1, "test-lock-holder"));
        await holder.OpenAsync();
        await using var hold = await holder.BeginTransactionAsync();
        await using (var lockAccounts = new NpgsqlCommand("SELECT id FROM accounts WHERE tenant_id = $1 FOR UPDATE", holder, hold))
        {
            lockAccounts.Parameters.Add(new NpgsqlParameter { Value = onB.TenantId });
            await using var reader = await lockAccounts.ExecuteReaderAsync();
            while (await reader.ReadAsync())
            {
            }
        }

        var waitingOnA = await WaitForLockWaitersAsync(database, "idem-payments-node-a");
        Volatile.Write(ref stop, true);
        var inFlightAtKill = Volatile.Read(ref inFlight);
        await nodes.A.KillAsync();
        await hold.RollbackAsync();
        await Task.WhenAll(workers).WaitAsync(Patience);
        output.WriteLine($"node A answered {firstAnswers.Count}, {inFlightAtKill} in flight at the kill ({waitingOnA} sessions waiting on the held accounts), {lost} lost; {Transfers - firstAnswers.Count - lost} never sent");
        Assert.True(inFlightAtKill > 0 && lost > 0, $"the kill should interrupt requests in flight ({inFlightAtKill} in flight, {lost} lost)");
        Assert.All(firstAnswers.Values, a => Assert.Equal(HttpStatusCode.Created, a.Status));

        // Every transfer of the plan, answered or not, is retried with its key on node B.
        var retries = new (HttpStatusCode Status, bool Replayed, byte[] Body)[Transfers];
        await Parallel.ForEachAsync(Enumerable.Range(0, Transfers), new ParallelOptions { MaxDegreeOfParallelism = 8 },
            async (index, _) => retries[index] = await plan.SendUntilFinalAsync(onB, index)).WaitAsync(Patience);

        for (var index = 0; index < Transfers; index++)
        {
            Assert.True(retries[index].Status == HttpStatusCode.Created, $"transfer {index}: {(int)retries[index].Status} {System.Text.Encoding.UTF8.GetString(retries[index].Body)}");
            if (firstAnswers.TryGetValue(index, out var first))
            {
                // Answered by A: B replays that very response.
                Assert.True(retries[index].Replayed, $"transfer {index} ran again on node B");
                Assert.Equal(first.Body, retries[index].Body);
            }
        }

        Assert.Equal(Transfers, retries.Select(r => TransferPlan.TransferIdOf(r.Body)).Distinct(StringComparer.Ordinal).Count());
        Assert.Equal(Transfers, (await probe.SnapshotAsync(onB.TenantId)).Transfers);
        Assert.Equal(plan.ExpectedBalances(Enumerable.Range(0, Transfers), Funding), await plan.BalancesAsync(onB));
        Assert.All(await probe.EntrySumsByCurrencyAsync(), pair => Assert.Equal(0, pair.Value));
        Assert.Empty(await probe.InconsistentAccountsAsync());
        Assert.Equal(0, await probe.UnbalancedMovementsAsync());

        // The killed node's claims died with their transactions: no key is left in progress, let alone past its lease,
        // and every transfer's key holds its completed response.
        Assert.Equal(0, await probe.CountAsync("SELECT COUNT(*) FROM idem_keys WHERE state = 0"));
        Assert.Equal(Transfers, await probe.CountAsync("SELECT COUNT(*) FROM idem_keys WHERE state = 1 AND status = 201 AND key LIKE '%|kill-%'"));
    }

    /// <summary>Waits until a session of <paramref name="applicationName"/> waits on a lock; returns how many do.</summary>
    private static async Task<long> WaitForLockWaitersAsync(PostgresDatabase database, string applicationName)
    {
        await using var connection = new NpgsqlConnection(database.ConnectionString(1, "test-lock-watcher"));
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 AND wait_event_type = 'Lock'", connection);
        count.Parameters.Add(new NpgsqlParameter { Value = applicationName });
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            var waiting = (long)(await count.ExecuteScalarAsync())!;
            if (waiting > 0)
            {
                return waiting;
            }

            Assert.True(DateTime.UtcNow < deadline, $"no session of {applicationName} ever waited on the held accounts");
            await Task.Delay(20);
        }
    }
}

/// <summary>Two service processes on one PostgreSQL database, ten pooled connections each.</summary>
internal sealed class NodePair : IAsyncDisposable
{
    private NodePair(PaymentsProcess a, PaymentsProcess b)
    {
        A = new Node(a);
        B = new Node(b);
    }

    public Node A { get; }

    public Node B { get; }

    public static async Task<NodePair> StartAsync(PostgresDatabase database, params string[] settings)
    {
        var starting = new[] { "a", "b" }.Select(name => PaymentsProcess.StartAsync(
            name, [.. PostgresPaymentsServer.Arguments(database.ConnectionString(10, "idem-payments-node-" + name)), PaymentsServer.GroupCommitOn, .. settings])).ToArray();
        try
        {
            var started = await Task.WhenAll(starting);
            return new NodePair(started[0], started[1]);
        }
        catch
        {
            foreach (var task in starting.Where(t => t.IsCompletedSuccessfully))
            {
                await task.Result.DisposeAsync();
            }

            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await A.Process.DisposeAsync();
        await B.Process.DisposeAsync();
    }

    internal sealed class Node(PaymentsProcess process)
    {
        public PaymentsProcess Process { get; } = process;

        public HttpClient Http => Process.Http;

        public TenantClient NewTenant() => new(Http, "sk_test_" + Guid.NewGuid().ToString("N"));

        public Task KillAsync() => Process.KillAsync();
    }
}

/// <summary>The tests that run service processes take turns, so they never compete with each other for the two cores.</summary>
[CollectionDefinition(Collection)]
public sealed class ProcessTests
{
    public const string Collection = "Service processes";
}
