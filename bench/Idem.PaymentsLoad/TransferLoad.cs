using System.Diagnostics;
using Idem.LoadHarness;

namespace Idem.PaymentsLoad;

/// <summary>One transfer sent: its key, its accounts (indices into the run's accounts), and the final answer.</summary>
internal sealed class SentTransfer(string key, int from, int to)
{
    public string Key { get; } = key;

    public int From { get; } = from;

    public int To { get; } = to;

    /// <summary>The HTTP status of the latest answer; 0 when none came.</summary>
    public int Status { get; set; }

    /// <summary>The transfer's id, from a 201.</summary>
    public string? TransferId { get; set; }
}

/// <summary>Answers in the measured window by status: 201, 409, 422, 503 and the rest (no answer counts as other).</summary>
internal readonly record struct StatusCounts(long Created, long Conflict, long Unprocessable, long Unavailable, long Other)
{
    public long Total => Created + Conflict + Unprocessable + Unavailable + Other;

    public static StatusCounts operator +(StatusCounts a, StatusCounts b)
        => new(a.Created + b.Created, a.Conflict + b.Conflict, a.Unprocessable + b.Unprocessable, a.Unavailable + b.Unavailable, a.Other + b.Other);

    public StatusCounts Add(int status) => status switch
    {
        201 => this with { Created = Created + 1 },
        409 => this with { Conflict = Conflict + 1 },
        422 => this with { Unprocessable = Unprocessable + 1 },
        503 => this with { Unavailable = Unavailable + 1 },
        _ => this with { Other = Other + 1 },
    };
}

/// <summary>What the load did: every transfer sent (warm-up included), and the answers and latencies of the measured window.</summary>
/// <remarks>
/// <see cref="ProcessCores"/> is how many cores this process (load generator, and the service when it runs here) kept busy
/// over the window; <see cref="MachineCores"/> the whole machine's, the database server and everything else included.
/// </remarks>
internal sealed record LoadOutcome(IReadOnlyList<SentTransfer> Sent, StatusCounts Window, double[] LatenciesMs, TimeSpan Elapsed, double ProcessCores, double MachineCores)
{
    public double TransfersPerSecond => Window.Created / Elapsed.TotalSeconds;

    /// <summary>The latency at quantile <paramref name="q"/> of the window's answers, in ms (nearest rank).</summary>
    public double Percentile(double q)
        => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs[Math.Clamp((int)Math.Ceiling(q * LatenciesMs.Length) - 1, 0, LatenciesMs.Length - 1)];
}

/// <summary>
/// Closed-loop load: each of <c>connections</c> workers sends one transfer of 1 minor unit under a new key and waits for
/// the whole answer before the next. With probability <c>hot</c> a transfer goes between the hot account (the first) and a
/// random other, the hot one on either side; otherwise between two random distinct accounts of the rest. After the
/// warm-up the answers are counted for the duration; then every worker finishes the transfer it has in flight, so nothing
/// is cancelled half-way.
/// </summary>
internal static class TransferLoad
{
    private const int Warming = 0;
    private const int Measuring = 1;
    private const int Stopped = 2;

    public static async Task<LoadOutcome> RunAsync(
        PaymentsClient client, string[] accounts, double hot, LoadOptions options, Func<Task> windowStarting, Func<Task> windowEnded,
        CancellationToken cancellationToken)
    {
        var phase = Warming;
        var workers = new Worker[options.Connections];
        var tasks = new Task[workers.Length];
        for (var w = 0; w < workers.Length; w++)
        {
            var worker = workers[w] = new Worker(new Random(unchecked(Environment.TickCount * 31 + w)));
            tasks[w] = Task.Run(async () =>
            {
                while (Volatile.Read(ref phase) != Stopped && !cancellationToken.IsCancellationRequested)
                {
                    var (from, to) = Pick(worker.Random, accounts.Length, hot);
                    var transfer = new SentTransfer(PaymentsClient.NewKey(), from, to);
                    var started = Stopwatch.GetTimestamp();
                    var (status, body) = await client.PostAsync("/v1/transfers", PaymentsClient.TransferBody(accounts[from], accounts[to]), transfer.Key, CancellationToken.None);
                    var elapsed = Stopwatch.GetElapsedTime(started);
                    transfer.Status = status;
                    transfer.TransferId = status == 201 ? PaymentsClient.IdOf(body) : null;
                    worker.Sent.Add(transfer);
                    if (Volatile.Read(ref phase) == Measuring)
                    {
                        worker.Window = worker.Window.Add(status);
                        worker.LatenciesMs.Add(elapsed.TotalMilliseconds);
                    }
                }
            }, CancellationToken.None);
        }

        try
        {
            await Task.Delay(options.Warmup, cancellationToken);
            await windowStarting();
            using var process = Process.GetCurrentProcess();
            var cpuAtStart = process.TotalProcessorTime;
            var machineAtStart = MachineCpu.Read();
            var clock = Stopwatch.StartNew();
            Volatile.Write(ref phase, Measuring);
            await Task.Delay(options.Duration, cancellationToken);
            Volatile.Write(ref phase, Stopped);
            var measured = clock.Elapsed;
            var machineCores = MachineCpu.CoresBusy(machineAtStart, MachineCpu.Read());
            process.Refresh();
            var processCores = (process.TotalProcessorTime - cpuAtStart) / measured;
            await windowEnded();
            await Task.WhenAll(tasks);

            var latencies = workers.SelectMany(w => w.LatenciesMs).ToArray();
            Array.Sort(latencies);
            return new LoadOutcome(
                [.. workers.SelectMany(w => w.Sent)],
                workers.Aggregate(default(StatusCounts), (sum, w) => sum + w.Window),
                latencies,
                measured,
                processCores,
                machineCores);
        }
        finally
        {
            Volatile.Write(ref phase, Stopped);
            await Task.WhenAll(tasks);
        }
    }

    /// <summary>
    /// Sends every transfer whose answer was not final again under its own key, until it is: Idem answers a key that
    /// completed with the stored answer and runs one that never did, so afterwards each transfer's outcome is known.
    /// </summary>
    public static async Task<int> SettleAsync(PaymentsClient client, string[] accounts, IReadOnlyList<SentTransfer> sent, int parallelism, CancellationToken cancellationToken)
    {
        var open = sent.Where(t => !PaymentsClient.IsFinal(t.Status)).ToArray();
        await Parallel.ForEachAsync(open, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (transfer, token) =>
        {
            var (status, body) = await client.PostUntilFinalAsync("/v1/transfers", PaymentsClient.TransferBody(accounts[transfer.From], accounts[transfer.To]), transfer.Key, token);
            transfer.Status = status;
            transfer.TransferId = status == 201 ? PaymentsClient.IdOf(body) : null;
        });
        return open.Length;
    }

    private static (int From, int To) Pick(Random random, int accounts, double hot)
    {
        // Account 0 is the hot one; 1..accounts-1 are the others.
        if (hot > 0 && random.NextDouble() < hot)
        {
            var other = 1 + random.Next(accounts - 1);
            return random.Next(2) == 0 ? (0, other) : (other, 0);
        }

        var from = 1 + random.Next(accounts - 1);
        var to = 1 + random.Next(accounts - 2);
        return (from, to >= from ? to + 1 : to);
    }

    private sealed class Worker(Random random)
    {
        public Random Random { get; } = random;

        public List<SentTransfer> Sent { get; } = [];

        public List<double> LatenciesMs { get; } = [];

        public StatusCounts Window { get; set; }
    }
}
