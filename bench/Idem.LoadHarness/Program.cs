using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using Idem.LoadHarness;

HarnessOptions options;
try
{
    options = HarnessOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

// A hard ceiling on top of the bounded options: the whole run can never outlast it.
Variant[] variants = options.Gateway
    ?
    [
        Variant.Bare, Variant.Yarp, Variant.Gateway,
        .. options.Floor ? [Variant.YarpFloor] : Array.Empty<Variant>(),
        .. options.Redis is null ? Array.Empty<Variant>() : options.Floor ? [Variant.GatewayRedis, Variant.YarpRedisFloor] : [Variant.GatewayRedis],
        .. options.Postgres is null ? Array.Empty<Variant>() : [Variant.GatewayPostgres],
    ]
    :
    [
        Variant.Bare, Variant.InMemory,
        .. options.Redis is null ? Array.Empty<Variant>() : [Variant.Redis, Variant.RedisBatched, Variant.RedisFloor],
        .. options.Postgres is null ? Array.Empty<Variant>() : [Variant.Postgres, Variant.PostgresBatched, Variant.PostgresFloor],
        .. options.Floor ? [Variant.Floor] : Array.Empty<Variant>(),
    ];
var perRun = options.Warmup + options.Duration + TimeSpan.FromSeconds(5);
using var deadline = new CancellationTokenSource(options.MaxWarmup + perRun * (2 * variants.Length * options.Rounds + 2 * variants.Length) + TimeSpan.FromMinutes(1));

// Each app's host would take Ctrl+C or SIGTERM for itself and stop only that app; the harness ends instead.
void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    deadline.Cancel();
}

using var onInterrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var onTerminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
var scenarios = new[] { Scenario.FirstExecutions, Scenario.Replays };
try
{
    return await RunAllAsync(scenarios, variants, options, deadline.Token);
}
catch (OperationCanceledException) when (deadline.IsCancellationRequested)
{
    Console.Error.WriteLine("Stopped: interrupted, or the overall deadline passed.");
    return 3;
}

static async Task<int> RunAllAsync(Scenario[] scenarios, Variant[] variants, HarnessOptions options, CancellationToken cancellationToken)
{
    // A first pass, not measured, until the JIT is quiet. Kestrel and the rest of the framework start from precompiled
    // (ReadyToRun) code but Idem starts from unoptimised tier-0 code, and on a busy 2-core machine tiering up takes
    // tens of seconds: measuring before that would charge Idem for the JIT, not for its work.
    var jitQuiet = await WarmUpUntilJitQuietAsync(scenarios, variants, options, cancellationToken);
    Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"Warm-up: {jitQuiet.Elapsed.TotalSeconds:0} s, JIT {(jitQuiet.Quiet ? "quiet" : "still busy at the cap")}."));

    var results = new Dictionary<(Scenario, Variant), List<RunResult>>();
    for (var round = 1; round <= options.Rounds; round++)
    {
        foreach (var scenario in scenarios)
        {
            // ABBA order (bare then Idem, then Idem then bare): a slow drift of the machine weighs on all alike.
            var serving = Serving(variants, scenario);
            var order = round % 2 == 1 ? serving : [.. serving.Reverse()];
            foreach (var variant in order)
            {
                var result = await RunOnceAsync(variant, scenario, options, cancellationToken);
                var runs = results.TryGetValue((scenario, variant), out var list) ? list : results[(scenario, variant)] = [];
                runs.Add(result);
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"round {round} {Name(scenario),-16} {VariantName(variant)}: {result.RequestsPerSecond,10:N0} req/s, {result.CpuMicrosecondsPerRequest,6:N1} CPU-us/req, {result.CoresBusy:0.00} cores busy (others {result.OthersCoresBusy:0.00}), JIT {result.JitTime.TotalMilliseconds:0} ms, {result.AllocatedPerRequest:N0} B/req, GC pauses {result.GcPauseShare:P1}, {result.Errors} errors, {result.Replayed} replayed, p50 {result.Percentile(0.5):0.0} ms, p99 {result.Percentile(0.99):0.0} ms"));
            }
        }
    }

    var report = options.Gateway ? GatewayReport(options, scenarios, results, jitQuiet) : Report(options, scenarios, results, jitQuiet);
    Console.WriteLine(report);
    if (options.Output is not null)
    {
        await File.WriteAllTextAsync(options.Output, report, cancellationToken);
    }

    var failed = results.Values.SelectMany(r => r).Any(r => r.Errors > 0 || r.Requests == 0);
    return failed ? 1 : 0;
}

static async Task<RunResult> RunOnceAsync(Variant variant, Scenario scenario, HarnessOptions options, CancellationToken cancellationToken)
{
    // Garbage of the previous run is not charged to this one.
    GC.Collect();
    GC.WaitForPendingFinalizers();
    GC.Collect();

    if (GatewayFront.IsFront(variant))
    {
        await using var front = await GatewayFront.StartAsync(variant, options);
        return await LoadGenerator.RunAsync(front.BaseAddress, scenario, options, cancellationToken);
    }

    // A fresh app per run: the first-execution store starts empty each time.
    await using var app = await EchoApp.StartAsync(variant, options);
    return await LoadGenerator.RunAsync(app.BaseAddress, scenario, options, cancellationToken);
}

static async Task<(TimeSpan Elapsed, bool Quiet)> WarmUpUntilJitQuietAsync(Scenario[] scenarios, Variant[] variants, HarnessOptions options, CancellationToken cancellationToken)
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    var pass = options with { Warmup = TimeSpan.FromSeconds(1), Duration = TimeSpan.FromSeconds(2) };
    while (true)
    {
        var jit = TimeSpan.Zero;
        var measured = TimeSpan.Zero;
        foreach (var scenario in scenarios)
        {
            foreach (var variant in Serving(variants, scenario))
            {
                var result = await RunOnceAsync(variant, scenario, pass, cancellationToken);
                jit += result.JitTime;
                measured += result.Elapsed;
            }
        }

        // Quiet: under 1% of the loaded time went to compiling. (Starting an app compiles its request delegates; that
        // happens before a run's warm-up and is not counted.)
        var jitShare = jit / measured;
        Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture, $"warm-up cycle: {jitShare:P1} of the loaded time in the JIT"));
        if (jitShare < 0.01)
        {
            return (clock.Elapsed, true);
        }

        if (clock.Elapsed > options.MaxWarmup)
        {
            return (clock.Elapsed, false);
        }
    }
}

// The floors answer a repeated key with 409 and replay nothing: they only serve first executions.
static Variant[] Serving(Variant[] variants, Scenario scenario)
    => scenario == Scenario.FirstExecutions
        ? variants
        : [.. variants.Where(v => v is not (Variant.Floor or Variant.RedisFloor or Variant.PostgresFloor or Variant.YarpFloor or Variant.YarpRedisFloor))];

static string Name(Scenario scenario) => scenario == Scenario.FirstExecutions ? "first executions" : "replays";

static string VariantName(Variant variant) => variant switch
{
    Variant.Bare => "bare",
    Variant.InMemory => "idem",
    Variant.Redis => "redis",
    Variant.Postgres => "postgres",
    Variant.PostgresBatched => "postgres batched",
    Variant.RedisBatched => "redis batched",
    Variant.RedisFloor => "redis floor",
    Variant.PostgresFloor => "postgres floor",
    Variant.Yarp => "yarp",
    Variant.Gateway => "gateway",
    Variant.GatewayRedis => "gateway-redis",
    Variant.GatewayPostgres => "gateway-postgres",
    Variant.YarpFloor => "yarp floor",
    Variant.YarpRedisFloor => "yarp redis floor",
    _ => "floor",
};

// Gateway mode: every front as a ratio to YARP alone in front of the same bare app, and YARP alone to the bare app.
static string GatewayReport(HarnessOptions options, Scenario[] scenarios, Dictionary<(Scenario, Variant), List<RunResult>> results, (TimeSpan Elapsed, bool Quiet) jit)
{
    var culture = CultureInfo.InvariantCulture;
    var text = ReportHeader(options, jit, "HTTP load through a reverse proxy", "load generator, proxy and bare app");
    text.AppendLine("| scenario | front | req/s | ratio to YARP alone | per round | CPU µs/req | allocated B/req | errors | replayed |");
    text.AppendLine("| --- | --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |");
    foreach (var scenario in scenarios)
    {
        var yarp = results[(scenario, Variant.Yarp)];
        foreach (var variant in Serving(VariantsOf(results, scenario), scenario))
        {
            var runs = results[(scenario, variant)];
            var perRound = string.Join(", ", yarp.Zip(runs, (y, r) => (r.RequestsPerSecond / y.RequestsPerSecond).ToString("0.00", culture)));
            var replayed = runs.Sum(r => r.Replayed) * 100.0 / Math.Max(1, runs.Sum(r => r.Requests));
            var label = scenario == Scenario.FirstExecutions ? "first executions" : $"replays ({options.ReplayKeys} keys)";
            var front = variant switch
            {
                Variant.Bare => "bare app, no proxy",
                Variant.Yarp => "YARP alone",
                Variant.Gateway => "gateway, in-memory store",
                Variant.GatewayRedis => "gateway, Redis store",
                Variant.YarpFloor => "YARP + floor middleware",
                Variant.YarpRedisFloor => "YARP + Redis floor (SET NX, SET XX)",
                _ => "gateway, PostgreSQL store",
            };
            text.AppendLine(culture,
                $"| {label} | {front} | {runs.Average(r => r.RequestsPerSecond):N0} | **{runs.Average(r => r.RequestsPerSecond) / yarp.Average(r => r.RequestsPerSecond):0.00}** | {perRound} | {runs.Average(r => r.CpuMicrosecondsPerRequest):N0} | {runs.Average(r => r.AllocatedPerRequest):N0} | {runs.Sum(r => r.Errors)} | {replayed:0}% |");
        }
    }

    var all = results.Values.SelectMany(r => r).ToList();
    text.AppendLine();
    text.AppendLine(culture, $"CPU µs/req is the whole process (load generator, proxy and bare app) per request. While measuring, this process kept {all.Average(r => r.CoresBusy):0.00} cores busy on average and other processes {all.Average(r => r.OthersCoresBusy):0.00} (max {all.Max(r => r.OthersCoresBusy):0.00}).");
    return text.ToString();
}

// What was run, where, and how warm: the lines above every report's table.
static StringBuilder ReportHeader(HarnessOptions options, (TimeSpan Elapsed, bool Quiet) jit, string what, string inProcess)
{
    var culture = CultureInfo.InvariantCulture;
    var text = new StringBuilder();
    text.AppendLine(culture, $"{what}: POST {EchoApp.Path}, {options.Concurrency} workers, {options.Warmup.TotalSeconds:0} s warm-up + {options.Duration.TotalSeconds:0} s measured per run, {options.Rounds} rounds (ABBA order), loopback.");
    text.AppendLine(culture, $"{Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC; {inProcess} in one process.");
    if (options.BatchMaxWait > TimeSpan.Zero)
    {
        text.AppendLine(culture, $"Batched runs wait up to {options.BatchMaxWait.TotalMicroseconds:0} µs for a batch to fill (Batching.MaxWait).");
    }

    text.AppendLine(culture, $"Warmed up for {jit.Elapsed.TotalSeconds:0} s first, until {(jit.Quiet ? "under 1% of the time went to the JIT" : "the warm-up cap (the JIT was still busy)")}.");
    text.AppendLine();
    return text;
}

static Variant[] VariantsOf(Dictionary<(Scenario, Variant), List<RunResult>> results, Scenario scenario)
    => [.. results.Keys.Where(k => k.Item1 == scenario).Select(k => k.Item2).Order()];

static string Report(HarnessOptions options, Scenario[] scenarios, Dictionary<(Scenario, Variant), List<RunResult>> results, (TimeSpan Elapsed, bool Quiet) jit)
{
    var culture = CultureInfo.InvariantCulture;
    var text = ReportHeader(options, jit, "HTTP load", "load generator and both servers");
    text.AppendLine("| scenario | bare req/s | Idem req/s | Idem/bare | per round | CPU µs/req bare → Idem | allocated B/req bare → Idem | time in GC pauses bare → Idem | errors | replayed by Idem |");
    text.AppendLine("| --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    foreach (var scenario in scenarios)
    {
        var bare = results[(scenario, Variant.Bare)];
        var idem = results[(scenario, Variant.InMemory)];
        var bareMean = bare.Average(r => r.RequestsPerSecond);
        var idemMean = idem.Average(r => r.RequestsPerSecond);
        var perRound = string.Join(", ", bare.Zip(idem, (b, i) => (i.RequestsPerSecond / b.RequestsPerSecond).ToString("0.00", culture)));
        var errors = bare.Sum(r => r.Errors) + idem.Sum(r => r.Errors);
        var replayed = idem.Sum(r => r.Replayed) * 100.0 / Math.Max(1, idem.Sum(r => r.Requests));
        var label = scenario == Scenario.FirstExecutions ? "first executions (a new key every request)" : $"replays ({options.ReplayKeys} completed keys)";
        var cpu = $"{bare.Average(r => r.CpuMicrosecondsPerRequest):N0} → {idem.Average(r => r.CpuMicrosecondsPerRequest):N0}";
        var allocated = $"{bare.Average(r => r.AllocatedPerRequest):N0} → {idem.Average(r => r.AllocatedPerRequest):N0}";
        var pauses = $"{bare.Average(r => r.GcPauseShare):P1} → {idem.Average(r => r.GcPauseShare):P1}";
        text.AppendLine(culture, $"| {label} | {bareMean:N0} | {idemMean:N0} | **{idemMean / bareMean:0.00}** | {perRound} | {cpu} | {allocated} | {pauses} | {errors} | {replayed:0}% |");
    }

    if (options.Redis is not null)
    {
        Compare(text, options, scenarios, results, Variant.Redis, "Redis", $"Idem on the Redis store at {options.Redis}");
        text.AppendLine();
        text.AppendLine("CPU µs/req counts this process only; the Redis server's own CPU is not in it.");
    }

    if (options.Redis is not null)
    {
        const string RedisFloor = "SET NX, then SET XX of the stored response's size, raw StackExchange.Redis";
        StoreTable(text, results, Variant.Redis, Variant.RedisFloor, "Redis", RedisFloor);
        StoreTable(text, results, Variant.RedisBatched, Variant.RedisFloor, "Redis with batched claims and completions", RedisFloor);
    }

    if (options.Postgres is not null)
    {
        Compare(text, options, scenarios, results, Variant.Postgres, "PostgreSQL", "Idem on the PostgreSQL store (standalone)");
        Compare(text, options, scenarios, results, Variant.PostgresBatched, "batched", "Idem on the PostgreSQL store (standalone) with batched claims and completions");
        const string PostgresFloor = "INSERT … ON CONFLICT DO NOTHING, then UPDATE of the stored response's size, raw Npgsql on the same pool settings";
        StoreTable(text, results, Variant.Postgres, Variant.PostgresFloor, "PostgreSQL", PostgresFloor);
        StoreTable(text, results, Variant.PostgresBatched, Variant.PostgresFloor, "PostgreSQL with batched claims and completions", PostgresFloor);
    }

    if (options.Floor)
    {
        Compare(text, options, [Scenario.FirstExecutions], results, Variant.Floor, "floor", "the floor middleware (SHA-256 of the body and one dictionary entry per key, nothing else; a lower bound, not Idem)");
    }

    var all = results.Values.SelectMany(r => r).ToList();
    text.AppendLine();
    text.AppendLine(culture, $"CPU µs/req is the whole process (load generator included) per request. While measuring, this process kept {all.Average(r => r.CoresBusy):0.00} cores busy on average and other processes {all.Average(r => r.OthersCoresBusy):0.00} (max {all.Max(r => r.OthersCoresBusy):0.00}).");

    return text.ToString();
}

// First executions on a shared store against its floor (the same round trips with the raw client), in the same rounds.
static void StoreTable(StringBuilder text, Dictionary<(Scenario, Variant), List<RunResult>> results, Variant store, Variant floor, string name, string description)
{
    var culture = CultureInfo.InvariantCulture;
    var bare = results[(Scenario.FirstExecutions, Variant.Bare)];
    var idem = results[(Scenario.FirstExecutions, store)];
    var raw = results[(Scenario.FirstExecutions, floor)];
    var (bareMean, idemMean, rawMean) = (bare.Average(r => r.RequestsPerSecond), idem.Average(r => r.RequestsPerSecond), raw.Average(r => r.RequestsPerSecond));
    var perRound = string.Join(", ", raw.Zip(idem, (f, i) => (i.RequestsPerSecond / f.RequestsPerSecond).ToString("0.00", culture)));
    static string Latency(List<RunResult> runs) => string.Create(CultureInfo.InvariantCulture, $"{runs.Average(r => r.Percentile(0.5)):0.0} / {runs.Average(r => r.Percentile(0.99)):0.0}");
    text.AppendLine();
    text.AppendLine(culture, $"First executions on {name} against its floor ({description}), same rounds:");
    text.AppendLine();
    text.AppendLine("| bare req/s | floor req/s | Idem req/s | **Idem/floor** | Idem/floor per round | floor/bare | Idem/bare | p50 / p99 ms: bare | floor | Idem | CPU µs/req floor → Idem | errors |");
    text.AppendLine("| ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    text.AppendLine(culture, $"| {bareMean:N0} | {rawMean:N0} | {idemMean:N0} | **{idemMean / rawMean:0.00}** | {perRound} | {rawMean / bareMean:0.00} | {idemMean / bareMean:0.00} | {Latency(bare)} | {Latency(raw)} | {Latency(idem)} | {raw.Average(r => r.CpuMicrosecondsPerRequest):N0} → {idem.Average(r => r.CpuMicrosecondsPerRequest):N0} | {raw.Sum(r => r.Errors) + idem.Sum(r => r.Errors)} |");
}

// Another variant in the same rounds as the bare app and Idem on the in-memory store.
static void Compare(StringBuilder text, HarnessOptions options, Scenario[] scenarios, Dictionary<(Scenario, Variant), List<RunResult>> results, Variant variant, string name, string description)
{
    var culture = CultureInfo.InvariantCulture;
    text.AppendLine();
    text.AppendLine(culture, $"The same rounds with {description} (in each round the apps ran back to back, order reversed every other round):");
    text.AppendLine();
    text.AppendLine(culture, $"| scenario | bare req/s | in-memory req/s | {name} req/s | {name}/bare | {name}/in-memory | {name}/bare per round | CPU µs/req bare → in-memory → {name} | errors | replayed by {name} |");
    text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |");
    foreach (var scenario in scenarios)
    {
        var bare = results[(scenario, Variant.Bare)];
        var memory = results[(scenario, Variant.InMemory)];
        var other = results[(scenario, variant)];
        var bareMean = bare.Average(r => r.RequestsPerSecond);
        var memoryMean = memory.Average(r => r.RequestsPerSecond);
        var otherMean = other.Average(r => r.RequestsPerSecond);
        var perRound = string.Join(", ", bare.Zip(other, (b, r) => (r.RequestsPerSecond / b.RequestsPerSecond).ToString("0.00", culture)));
        var errors = other.Sum(r => r.Errors);
        var replayed = other.Sum(r => r.Replayed) * 100.0 / Math.Max(1, other.Sum(r => r.Requests));
        var label = scenario == Scenario.FirstExecutions ? "first executions" : $"replays ({options.ReplayKeys} keys)";
        var cpu = $"{bare.Average(r => r.CpuMicrosecondsPerRequest):N0} → {memory.Average(r => r.CpuMicrosecondsPerRequest):N0} → {other.Average(r => r.CpuMicrosecondsPerRequest):N0}";
        text.AppendLine(culture, $"| {label} | {bareMean:N0} | {memoryMean:N0} | {otherMean:N0} | **{otherMean / bareMean:0.00}** | **{otherMean / memoryMean:0.00}** | {perRound} | {cpu} | {errors} | {replayed:0}% |");
    }
}
