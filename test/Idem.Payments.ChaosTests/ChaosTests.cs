using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.ChaosTests;

/// <summary>
/// The chaos test (issue 5), over real HTTP and real processes: the processor simulator in a process of its own, one
/// payments node that is SIGKILLed and restarted on the same database several times while 16 clients pay (with a mix of
/// processor faults), refund and transfer, each operation under one key retried at random moments. Afterwards the
/// processor's own record, the ledger's rows and the clients' answers must agree: every payment and refund charged once,
/// every success the clients saw in the ledger once, every replay byte-identical, the audit clean.
/// </summary>
public sealed class ChaosTests(ITestOutputHelper output)
{
    private const int Clients = 16;
    private const int Tenants = 3;
    private const int MinKills = 3;
    private static readonly TimeSpan ChaosWindow = TimeSpan.FromSeconds(40);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Chaos_OnSqlite()
    {
        var path = SqlitePaymentsServer.NewDatabasePath();
        try
        {
            await RunAsync(SqlitePaymentsServer.Arguments(path), LedgerProbe.Sqlite(path), seed: 1);
        }
        finally
        {
            SqlitePaymentsServer.DeleteDatabase(path);
        }
    }

    [Fact]
    [Trait("Category", "PostgreSQL")]
    public async Task Chaos_OnPostgres()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        // With group commit on, which is off on PostgreSQL by default: kills land mid-batch.
        await RunAsync([.. PostgresPaymentsServer.Arguments(database.ConnectionString(20, "idem-payments-chaos")), PaymentsServer.GroupCommitOn],
            LedgerProbe.Postgres(database.ConnectionString(2, "idem-payments-chaos-probe")), seed: 2);
    }

    private async Task RunAsync(string[] databaseArguments, LedgerProbe probe, int seed)
    {
        var clock = Stopwatch.StartNew();
        await using var topology = await ChaosTopology.StartAsync(databaseArguments);
        var tenants = new List<ChaosTenant>();
        for (var i = 0; i < Tenants; i++)
        {
            tenants.Add(await ChaosSetup.TenantAsync(topology.Http, i));
        }

        // Chaos: the clients run while the node is killed at random moments and restarted on the same database, at least
        // MinKills times and until the window has passed; then no new operations start and those under way finish.
        var random = new Random(seed);
        var workload = new ChaosWorkload(topology, tenants, seed);
        var clients = workload.RunAsync(Clients);
        var chaosClock = Stopwatch.StartNew();
        try
        {
            while (chaosClock.Elapsed < ChaosWindow || topology.Kills < MinKills)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(random.Next(3_000, 8_000)));
                Assert.False(clients.IsCompleted, $"The clients stopped during the chaos: {clients.Exception}");
                await topology.KillAndRestartAsync(TimeSpan.FromMilliseconds(random.Next(200, 1_500)));
            }
        }
        catch
        {
            workload.Stop(finishWithin: TimeSpan.Zero); // the clients must not outlive a failed run
            throw;
        }

        var chaosTime = chaosClock.Elapsed;
        workload.Stop(finishWithin: TimeSpan.FromSeconds(60));
        await clients.WaitAsync(Patience);
        var operations = workload.Operations.ToList();

        // Every key sent again once the dust has settled: each must replay its first answer.
        var replayRandom = new Random(seed);
        var replayDeadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        foreach (var chunk in operations.Where(o => o.First is not null).Chunk(Clients))
        {
            await Task.WhenAll(chunk.Select(o => workload.UntilFinalAsync(o, new Random(replayRandom.Next()), late: true, replayDeadline)));
        }

        // The completer (and the clients' retries, all done now) settle whatever is pending.
        var audits = await SettledAuditsAsync(topology, tenants);
        var failures = new List<string>();
        foreach (var (tenant, audit) in tenants.Zip(audits))
        {
            if (!audit.GetProperty("ok").GetBoolean()
                || audit.GetProperty("unsettled_payments").GetInt32() != 0 || audit.GetProperty("unsettled_refunds").GetInt32() != 0)
            {
                failures.Add($"tenant {tenant.Index}: audit not clean: " + string.Join("; ", audit.GetProperty("checks").EnumerateArray()
                    .Where(c => !c.GetProperty("ok").GetBoolean())
                    .Select(c => $"{c.GetProperty("name").GetString()} fails for {string.Join(',', c.GetProperty("failures").EnumerateArray().Select(f => f.GetString()))}"))
                    + $" (unsettled payments {audit.GetProperty("unsettled_payments").GetInt32()}, refunds {audit.GetProperty("unsettled_refunds").GetInt32()})");
            }
        }

        var ground = await GroundTruth.ReadAsync(topology, probe);
        failures.AddRange(CheckAnswers(operations));
        failures.AddRange(CheckPayments(operations, ground));
        failures.AddRange(CheckRefunds(operations, ground));
        failures.AddRange(CheckTransfers(operations, ground));
        failures.AddRange(CheckHolds(operations, ground));
        failures.AddRange(CheckBatches(operations, ground));

        var counters = workload.Counters;
        var interruptedOperations = operations.Count(o => o.Interrupted > 0);
        output.WriteLine(
            $"{operations.Count} operations ({Count(operations, OperationKind.Payment)} payments, {Count(operations, OperationKind.Refund)} refunds, " +
            $"{Count(operations, OperationKind.Transfer)} transfers, {Count(operations, OperationKind.Hold)} holds, {Count(operations, OperationKind.HoldCapture)} captures, " +
            $"{Count(operations, OperationKind.HoldVoid)} voids, {Count(operations, OperationKind.Batch)} batches, {ground.Holds.Count(h => h.Status == "expired")} holds expired) by {Clients} clients in {chaosTime.TotalSeconds:F0} s of chaos; " +
            $"{counters.Attempts} attempts ({counters.Attempts - operations.Count} retries: {counters.Concurrent} concurrent duplicates, " +
            $"{counters.Late} late resends, one final resend of every key); {counters.Replays} replays; " +
            $"{topology.Kills} kills, {counters.Interrupted} attempts ({interruptedOperations} operations) cut by a kill, {counters.Refused} refused while down; " +
            $"{counters.Conflicts} 409, {counters.Unavailable} 503, {counters.ServerErrors} other 5xx " +
            $"({string.Join(',', counters.ServerErrorStatuses.Select(p => $"{p.Key}x{p.Value}"))}), {counters.Timeouts} timeouts, {counters.OtherErrors} other errors; " +
            $"processor: {ground.Charges.Count} charges, {ground.ProcessorRefunds.Count} refunds; {clock.Elapsed.TotalSeconds:F0} s in all");
        var durations = operations.Select(o => o.Duration.TotalSeconds).Order().ToList();
        output.WriteLine($"restarts took {string.Join(", ", topology.Downtimes.Select(d => $"{d.TotalSeconds:F1} s"))}; operations took " +
            $"{durations[durations.Count / 2]:F1} s (median), {durations[durations.Count * 9 / 10]:F1} s (90th), {durations[^1]:F1} s (max)");
        foreach (var failure in failures.Take(50))
        {
            output.WriteLine("FAIL " + failure);
        }

        Assert.True(failures.Count == 0, $"{failures.Count} failures, first: {string.Join("\n", failures.Take(20))}\nnode output:\n{topology.NodeOutput}");
        Assert.True(topology.Kills >= MinKills, $"only {topology.Kills} kills");
        Assert.True(interruptedOperations > 0, "no operation was in flight when the node was killed: the kills tested nothing");
        Assert.True(counters.Replays > 0, "nothing was replayed");
    }

    private static int Count(List<ChaosOperation> operations, OperationKind kind) => operations.Count(o => o.Kind == kind);

    /// <summary>Every operation got a final answer of an expected kind, and every later final answer is the first, byte for byte.</summary>
    private static IEnumerable<string> CheckAnswers(List<ChaosOperation> operations)
    {
        foreach (var operation in operations)
        {
            var first = operation.First;
            if (first is null || operation.GaveUp)
            {
                yield return $"{operation.Kind} {operation.Key} never got a final answer";
                continue;
            }

            if (operation.Unanswered > 0)
            {
                yield return $"{operation.Kind} {operation.Key} was answered {first.Status}, but {operation.Unanswered} later resends got no final answer";
            }

            if (!ChaosSetup.IsExpected((HttpStatusCode)first.Status, operation.Kind))
            {
                yield return $"{operation.Kind} {operation.Key} answered {first.Status}: {System.Text.Encoding.UTF8.GetString(first.Body)}";
            }

            foreach (var later in operation.Finals.Skip(1))
            {
                if (later.Status != first.Status || !later.Body.AsSpan().SequenceEqual(first.Body))
                {
                    yield return $"{operation.Kind} {operation.Key}: first answer {first.Status} {System.Text.Encoding.UTF8.GetString(first.Body)}, " +
                        $"later {later.Status} (replayed: {later.Replayed}) {System.Text.Encoding.UTF8.GetString(later.Body)}";
                }
            }
        }
    }

    private static IEnumerable<string> CheckPayments(List<ChaosOperation> operations, GroundTruth ground)
    {
        var payments = operations.Where(o => o.Kind == OperationKind.Payment && o.First is not null).ToList();
        var succeededCharges = ground.Charges.Where(c => c.Status == "succeeded").ToLookup(c => c.Reference, StringComparer.Ordinal);
        var answeredIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in payments)
        {
            var answer = operation.First!;
            var id = answer.Status == 201 ? answer.Text("id") : answer.Text("payment");
            if (id is null)
            {
                continue; // reported by CheckAnswers
            }

            answeredIds.Add(id);
            var rows = ground.Payments.Where(p => p.Id == id).ToList();
            if (rows.Count != 1)
            {
                yield return $"payment {id} ({operation.Key}) is {rows.Count} rows in the ledger";
                continue;
            }

            var row = rows[0];
            if (row.Key != operation.Key || row.Amount != operation.Amount)
            {
                yield return $"payment {id} has key {row.Key} and amount {row.Amount}, its client sent {operation.Key} and {operation.Amount}";
            }

            var charges = succeededCharges[id].ToList();
            if (answer.Status == 201)
            {
                if (row.Status != "succeeded" || charges.Count != 1 || charges[0].Id != row.ChargeId || charges[0].Amount != row.Amount)
                {
                    yield return $"payment {id} ({operation.Token}) answered 201 but is {row.Status} with charge {row.ChargeId}; " +
                        $"the processor has {charges.Count} succeeded charges for it ({string.Join(',', charges.Select(c => $"{c.Id}:{c.Amount}"))})";
                }
            }
            else if (row.Status != "declined" || charges.Count != 0)
            {
                yield return $"payment {id} ({operation.Token}) answered {answer.Status} but is {row.Status}, with {charges.Count} succeeded charges at the processor";
            }
        }

        // Nothing in the ledger or at the processor that no client's answer accounts for.
        foreach (var row in ground.Payments.Where(p => !answeredIds.Contains(p.Id)))
        {
            yield return $"payment {row.Id} ({row.Key}, {row.Status}) is in the ledger, but no client was answered with it";
        }

        var known = ground.Payments.Select(p => p.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var charge in ground.Charges.Where(c => !known.Contains(c.Reference)))
        {
            yield return $"the processor has charge {charge.Id} ({charge.Status}) for {charge.Reference}, a payment the service does not know";
        }

        foreach (var group in ground.Charges.GroupBy(c => c.Reference).Where(g => g.Count() > 1))
        {
            yield return $"the processor charged payment {group.Key} {group.Count()} times: {string.Join(',', group.Select(c => $"{c.Id} ({c.Status}, key {c.Key})"))}";
        }

        var reached = ground.Charges.Select(c => c.Reference).Distinct().Count();
        if (ground.Charges.Count != reached)
        {
            yield return $"{ground.Charges.Count} processor charges for {reached} payments";
        }
    }

    private static IEnumerable<string> CheckRefunds(List<ChaosOperation> operations, GroundTruth ground)
    {
        var refunds = operations.Where(o => o.Kind == OperationKind.Refund && o.First is { Status: 201 }).ToList();
        var atProcessor = ground.ProcessorRefunds.ToLookup(r => r.Reference, StringComparer.Ordinal);
        var answeredIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in refunds)
        {
            var answer = operation.First!;
            var id = answer.Text("id")!;
            answeredIds.Add(id);
            var rows = ground.Refunds.Where(r => r.Id == id).ToList();
            var processed = atProcessor[id].ToList();
            if (rows.Count != 1 || rows[0].Status != "succeeded" || rows[0].Key != operation.Key || rows[0].Amount != operation.Amount)
            {
                yield return $"refund {id} ({operation.Key}) answered 201 but the ledger has {string.Join(',', rows.Select(r => $"{r.Status} {r.Key} {r.Amount}"))}";
                continue;
            }

            var charge = ground.Payments.SingleOrDefault(p => p.Id == rows[0].PaymentId)?.ChargeId;
            if (processed.Count != 1 || processed[0].Id != rows[0].ProcessorRefundId || processed[0].Charge != charge || processed[0].Amount != operation.Amount)
            {
                yield return $"refund {id} answered 201; the processor made it {processed.Count} times " +
                    $"({string.Join(',', processed.Select(r => $"{r.Id} of {r.Charge}: {r.Amount}"))}), the ledger says {rows[0].ProcessorRefundId} of {charge}";
            }
        }

        foreach (var row in ground.Refunds.Where(r => !answeredIds.Contains(r.Id)))
        {
            yield return $"refund {row.Id} ({row.Key}, {row.Status}) is in the ledger, but no client was answered with it";
        }

        var known = ground.Refunds.Select(r => r.Id).ToHashSet(StringComparer.Ordinal);
        foreach (var refund in ground.ProcessorRefunds.Where(r => !known.Contains(r.Reference)))
        {
            yield return $"the processor has refund {refund.Id} for {refund.Reference}, a refund the service does not know";
        }

        foreach (var group in ground.ProcessorRefunds.GroupBy(r => r.Reference).Where(g => g.Count() > 1))
        {
            yield return $"the processor made refund {group.Key} {group.Count()} times";
        }
    }

    private static IEnumerable<string> CheckTransfers(List<ChaosOperation> operations, GroundTruth ground)
    {
        var transfers = operations.Where(o => o.Kind == OperationKind.Transfer && o.First is { Status: 201 }).ToList();
        var answeredIds = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in transfers)
        {
            var id = operation.First!.Text("id")!;
            answeredIds.Add(id);
            var rows = ground.Transfers.Count(t => t.Id == id);
            if (rows != 1)
            {
                yield return $"transfer {id} ({operation.Key}) answered 201 and is {rows} rows in the ledger";
            }
        }

        foreach (var row in ground.Transfers.Where(t => !answeredIds.Contains(t.Id)))
        {
            yield return $"transfer {row.Id} is in the ledger, but no client was answered with it";
        }
    }

    /// <summary>
    /// Each hold answered 201 is one row, and no row was never answered; each capture or void answered 200 is what the
    /// hold became, for the amount asked; one answered 409 found its hold expired (no other request ends that hold).
    /// </summary>
    private static IEnumerable<string> CheckHolds(List<ChaosOperation> operations, GroundTruth ground)
    {
        var rows = ground.Holds.ToLookup(h => h.Id, StringComparer.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in operations.Where(o => o.Kind == OperationKind.Hold && o.First is { Status: 201 }))
        {
            var id = operation.First!.Text("id")!;
            answered.Add(id);
            if (rows[id].Count() != 1)
            {
                yield return $"hold {id} ({operation.Key}) answered 201 and is {rows[id].Count()} rows";
            }
        }

        foreach (var row in ground.Holds.Where(h => !answered.Contains(h.Id)))
        {
            yield return $"hold {row.Id} is in the ledger, but no client was answered with it";
        }

        foreach (var operation in operations.Where(o => o.Kind is OperationKind.HoldCapture or OperationKind.HoldVoid && o.First is not null))
        {
            var id = operation.Path.Split('/')[3];
            var row = rows[id].SingleOrDefault();
            var (status, captured) = operation.First!.Status == 200
                ? (operation.Kind == OperationKind.HoldCapture ? "captured" : "voided", operation.Kind == OperationKind.HoldCapture ? operation.Amount : 0)
                : ("expired", 0L);
            if (row is null || row.Status != status || row.Captured != captured)
            {
                yield return $"{operation.Kind} of hold {id} ({operation.Key}) answered {operation.First.Status}, but the hold is {row?.Status} with {row?.Captured} captured";
            }
        }
    }

    /// <summary>Each batch answered 201 is one row with every one of its transfers, and no batch row was never answered.</summary>
    private static IEnumerable<string> CheckBatches(List<ChaosOperation> operations, GroundTruth ground)
    {
        var rows = ground.Batches.ToDictionary(b => b.Id, StringComparer.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        foreach (var operation in operations.Where(o => o.Kind == OperationKind.Batch && o.First is { Status: 201 }))
        {
            var answer = operation.First!.Json;
            var id = answer.GetProperty("id").GetString()!;
            var items = answer.GetProperty("transfers").GetArrayLength();
            answered.Add(id);
            if (!rows.TryGetValue(id, out var row) || row.Items != items || row.Transfers != items)
            {
                yield return $"batch {id} ({operation.Key}) answered 201 with {items} transfers, but the ledger has {(row is null ? "no batch" : $"{row.Items} items and {row.Transfers} transfers")}";
            }
        }

        foreach (var row in ground.Batches.Where(b => !answered.Contains(b.Id)))
        {
            yield return $"batch {row.Id} is in the ledger, but no client was answered with it";
        }
    }

    /// <summary>Each tenant's audit once nothing is pending, or as it stands when patience runs out.</summary>
    private static async Task<List<JsonElement>> SettledAuditsAsync(ChaosTopology topology, List<ChaosTenant> tenants)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var audits = new List<JsonElement>();
            foreach (var tenant in tenants)
            {
                using var response = await tenant.Client.GetAsync("/v1/ledger/audit");
                audits.Add(await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK));
            }

            if (audits.TrueForAll(a => a.GetProperty("unsettled_payments").GetInt32() == 0 && a.GetProperty("unsettled_refunds").GetInt32() == 0)
                || DateTime.UtcNow > until)
            {
                return audits;
            }

            await Task.Delay(500);
        }
    }
}

internal sealed record ChargeRow(string Id, string Reference, long Amount, string Status, string Key);

internal sealed record ProcessorRefundRow(string Id, string Charge, string Reference, long Amount);

internal sealed record PaymentRow(string Id, string Key, long Amount, string Status, string? ChargeId);

internal sealed record RefundRow(string Id, string Key, string PaymentId, long Amount, string Status, string? ProcessorRefundId);

internal sealed record TransferRow(string Id);

internal sealed record HoldRow(string Id, string Status, long Captured);

internal sealed record BatchRow(string Id, long Items, long Transfers);

/// <summary>What really happened: the processor's record of charges and refunds, and the ledger's rows, read directly.</summary>
internal sealed record GroundTruth(
    List<ChargeRow> Charges, List<ProcessorRefundRow> ProcessorRefunds, List<PaymentRow> Payments, List<RefundRow> Refunds, List<TransferRow> Transfers, List<HoldRow> Holds, List<BatchRow> Batches)
{
    public static async Task<GroundTruth> ReadAsync(ChaosTopology topology, LedgerProbe probe)
    {
        var charges = (await ListAsync(topology.ProcessorHttp, "v1/charges"))
            .Select(c => new ChargeRow(S(c, "id"), S(c, "reference"), P(c, "amount").GetInt64(), S(c, "status"), S(c, "idempotency_key"))).ToList();
        var refunds = (await ListAsync(topology.ProcessorHttp, "v1/refunds"))
            .Select(r => new ProcessorRefundRow(S(r, "id"), S(r, "charge"), S(r, "reference"), P(r, "amount").GetInt64())).ToList();
        var payments = (await probe.RowsAsync("SELECT id, idempotency_key, amount, status, charge_id FROM payments"))
            .Select(r => new PaymentRow(r[0]!, r[1]!, long.Parse(r[2]!, System.Globalization.CultureInfo.InvariantCulture), r[3]!, r[4])).ToList();
        var ledgerRefunds = (await probe.RowsAsync("SELECT id, idempotency_key, payment_id, amount, status, processor_refund_id FROM refunds"))
            .Select(r => new RefundRow(r[0]!, r[1]!, r[2]!, long.Parse(r[3]!, System.Globalization.CultureInfo.InvariantCulture), r[4]!, r[5])).ToList();
        var transfers = (await probe.RowsAsync("SELECT id FROM transfers WHERE batch_id IS NULL")).Select(r => new TransferRow(r[0]!)).ToList();
        var batches = (await probe.RowsAsync("SELECT b.id, b.item_count, (SELECT COUNT(*) FROM transfers t WHERE t.batch_id = b.id) FROM batches b"))
            .Select(r => new BatchRow(r[0]!, long.Parse(r[1]!, System.Globalization.CultureInfo.InvariantCulture), long.Parse(r[2]!, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();
        var holds = (await probe.RowsAsync("SELECT id, status, captured_amount FROM holds"))
            .Select(r => new HoldRow(r[0]!, r[1]!, long.Parse(r[2]!, System.Globalization.CultureInfo.InvariantCulture))).ToList();
        return new GroundTruth(charges, refunds, payments, ledgerRefunds, transfers, holds, batches);
    }

    private static string S(JsonElement element, string property) => P(element, property).GetString()!;

    // The processor's own JSON: matched on the name without underscores or case (idempotency_key, idempotencyKey).
    private static JsonElement P(JsonElement element, string property)
        => element.EnumerateObject().Single(p => string.Equals(p.Name.Replace("_", "", StringComparison.Ordinal), property.Replace("_", "", StringComparison.Ordinal),
            StringComparison.OrdinalIgnoreCase)).Value;

    private static async Task<List<JsonElement>> ListAsync(HttpClient http, string path)
    {
        using var response = await http.GetAsync(path);
        return [.. (await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK)).EnumerateArray()];
    }
}
