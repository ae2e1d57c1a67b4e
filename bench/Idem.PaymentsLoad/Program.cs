using System.Globalization;
using System.Runtime.InteropServices;
using Idem.PaymentsLoad;

LoadOptions options;
try
{
    options = LoadOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

// A hard ceiling on top of the bounded options: the whole sitting can never outlast it. Each run also starts a service,
// funds its accounts, settles and checks: a few minutes at most on a loaded machine.
var perRun = options.Warmup + options.Duration + TimeSpan.FromMinutes(3);
var runs = options.Targets.Count * (options.HotShares.Count * options.Rounds + 1) + (options.Pgbench ? options.Rounds : 0);
using var deadline = new CancellationTokenSource(perRun * runs + options.JitWarmup * options.Targets.Count + TimeSpan.FromMinutes(1));

// The in-process service's host would take Ctrl+C or SIGTERM for itself and stop only the service; the whole run ends instead.
void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    deadline.Cancel();
}

using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
try
{
    return await RunAllAsync(options, deadline.Token);
}
catch (OperationCanceledException) when (deadline.IsCancellationRequested)
{
    Console.Error.WriteLine("Stopped: interrupted, or the overall deadline passed.");
    return 3;
}

static async Task<int> RunAllAsync(LoadOptions options, CancellationToken cancellationToken)
{
    using var commands = new NpgsqlCommands();
    using var trace = options.TraceSql ? new SqlTrace() : null;
    var results = new List<RunResult>();
    var pgbench = new List<(int Round, PgbenchResult Result)>();

    // Not measured: the request path starts as unoptimised tier-0 code, and a first run would charge the JIT to
    // whichever database came first.
    if (options.JitWarmup > TimeSpan.Zero)
    {
        foreach (var target in options.Targets)
        {
            var warm = await RunOnceAsync(target, options.HotShares[0], 0, options with { Warmup = TimeSpan.Zero, Duration = options.JitWarmup }, commands, trace, cancellationToken);
            Console.Error.WriteLine("warm-up " + Line(warm));
            results.Add(warm);
        }
    }

    var plan = options.Targets.SelectMany(t => options.HotShares.Select(h => (Target: t, Hot: h, Pgbench: false))).ToList();
    if (options.Pgbench)
    {
        plan.Add((TargetKind.Postgres, double.NaN, true));
    }

    for (var round = 1; round <= options.Rounds; round++)
    {
        // Reversed every other round (ABBA), so a slow drift of the machine weighs on all alike.
        foreach (var (target, hot, isPgbench) in round % 2 == 1 ? plan : Enumerable.Reverse(plan))
        {
            if (isPgbench)
            {
                var result = await Pgbench.RunAsync(options.Postgres!, options, cancellationToken);
                pgbench.Add((round, result));
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round} pgbench: {result.TransactionsPerSecond:N0} tps, latency {result.LatencyMs:0.0} ms"));
                continue;
            }

            var run = await RunOnceAsync(target, hot, round, options, commands, trace, cancellationToken);
            Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"round {round} {Line(run)}"));
            results.Add(run);
        }
    }

    var report = Report.Write(options, results.Where(r => r.Round > 0).ToList(), pgbench);
    Console.WriteLine(report);
    if (options.Output is not null)
    {
        await File.WriteAllTextAsync(options.Output, report, cancellationToken);
    }

    foreach (var failed in results.Where(r => !r.Ok))
    {
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Check failed ({PaymentsTarget.Name(failed.Target)}, hot {failed.Hot:0.##}, round {failed.Round}):"));
        foreach (var failure in failed.Failures)
        {
            Console.Error.WriteLine("  " + failure);
        }
    }

    return results.All(r => r.Ok && r.Load.Window.Created > 0) ? 0 : 1;
}

static async Task<RunResult> RunOnceAsync(
    TargetKind kind, double hot, int round, LoadOptions options, NpgsqlCommands commands, SqlTrace? trace, CancellationToken cancellationToken)
{
    // Garbage of the previous run is not charged to this one.
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();

    // Funding far beyond what a run can move: no transfer is ever refused for want of money.
    const long funding = 1_000_000_000;
    await using var target = await PaymentsTarget.StartAsync(kind, options, cancellationToken);
    using var client = new PaymentsClient(target.BaseAddress, options.Connections);
    var accounts = await client.OpenFundedAccountsAsync(options.Accounts, funding, options.Connections, cancellationToken);

    // The service's PostgreSQL database watched over the window: statements where pg_stat_statements is there, and the
    // request path traced when asked, both only for a database of the run's own.
    var own = kind == TargetKind.Postgres;
    using var watch = target.Postgres is { } probe
        ? new PostgresWatch(probe, commands, own ? trace : null, statements: own && await probe.TryEnableStatementsAsync(cancellationToken))
        : null;
    var load = await TransferLoad.RunAsync(client, accounts, hot, options,
        windowStarting: () => watch?.StartAsync(cancellationToken) ?? Task.CompletedTask,
        windowEnded: () => watch?.StopAsync(cancellationToken) ?? Task.CompletedTask,
        cancellationToken);
    var window = watch is null ? null : await watch.ResultAsync(load.Window.Created);

    var settled = await TransferLoad.SettleAsync(client, accounts, load.Sent, options.Connections, cancellationToken);
    var failures = await LedgerCheck.RunAsync(client, target, accounts, funding, load.Sent, options.Connections, cancellationToken);
    return new RunResult(kind, hot, round, load, settled, failures, window);
}

static string Line(RunResult run)
{
    var load = run.Load;
    var statuses = load.Window;
    var text = string.Create(CultureInfo.InvariantCulture,
        $"{PaymentsTarget.Name(run.Target)} hot {run.Hot:0.##}: {load.TransfersPerSecond,7:N0} transfers/s, p50 {load.Percentile(0.5):0.0} ms, p99 {load.Percentile(0.99):0.0} ms, max {load.Percentile(1):0} ms; 201 {statuses.Created}, 409 {statuses.Conflict}, 422 {statuses.Unprocessable}, 503 {statuses.Unavailable}, other {statuses.Other}; {run.Settled} settled after; cores busy: {load.ProcessCores:0.00} this process, {load.MachineCores:0.00} machine");
    if (run.Postgres is { } pg)
    {
        text += string.Create(CultureInfo.InvariantCulture,
            $"; {pg.CommitsPerTransfer:0.00} commits, {pg.Per(pg.RequestCommands):0.0} + {pg.Per(pg.EventCommands):0.0} commands per transfer");
    }

    return text + (run.Ok ? "; checks ok" : "; CHECKS FAILED");
}
