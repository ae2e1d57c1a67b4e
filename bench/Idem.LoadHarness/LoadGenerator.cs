using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;

namespace Idem.LoadHarness;

internal enum Scenario
{
    /// <summary>Every request carries a new key: Idem claims, runs the handler, captures and completes.</summary>
    FirstExecutions,

    /// <summary>Every request reuses one of a few keys already completed: Idem replays the stored response.</summary>
    Replays,
}

internal sealed record RunResult(
    long Requests, long Errors, long Replayed, TimeSpan Elapsed, TimeSpan ProcessorTime, double MachineCoresBusy, TimeSpan JitTime, long AllocatedBytes, TimeSpan GcPause,
    double[] LatenciesMs)
{
    /// <summary>The latency at quantile <paramref name="q"/> of the measured requests, in ms (nearest rank; sorted latencies).</summary>
    public double Percentile(double q)
        => LatenciesMs.Length == 0 ? double.NaN : LatenciesMs[Math.Clamp((int)Math.Ceiling(q * LatenciesMs.Length) - 1, 0, LatenciesMs.Length - 1)];

    public double RequestsPerSecond => Requests / Elapsed.TotalSeconds;

    /// <summary>CPU time of the whole process (client and server) per request, in microseconds.</summary>
    public double CpuMicrosecondsPerRequest => ProcessorTime.TotalMicroseconds / Math.Max(1, Requests);

    /// <summary>Bytes the whole process (client and server) allocated per request: the same on a busy machine as on a quiet one.</summary>
    public double AllocatedPerRequest => (double)AllocatedBytes / Math.Max(1, Requests);

    /// <summary>The share of the measured time every thread spent stopped for the garbage collector.</summary>
    public double GcPauseShare => GcPause / Elapsed;

    /// <summary>How many of the cores the process kept busy.</summary>
    public double CoresBusy => ProcessorTime / Elapsed;

    /// <summary>How many cores other processes on the machine kept busy meanwhile (NaN where /proc/stat is missing).</summary>
    public double OthersCoresBusy => Math.Max(0, MachineCoresBusy - CoresBusy);
}

/// <summary>
/// Closed-loop load: <c>concurrency</c> workers, each with its own keep-alive connection, send one request and wait for
/// its response before the next. Counting starts after the warm-up and stops after the duration; every worker then
/// finishes the request it has in flight and stops, so nothing is cancelled half-way.
/// </summary>
internal static class LoadGenerator
{
    private static readonly byte[] Body = Encoding.UTF8.GetBytes("""{"id":42,"amount":1250,"currency":"EUR","to":"acct_7Hq2"}""");
    private static readonly MediaTypeHeaderValue Json = new("application/json");

    public static async Task<RunResult> RunAsync(Uri baseAddress, Scenario scenario, HarnessOptions options, CancellationToken cancellationToken)
    {
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            UseCookies = false,
            AutomaticDecompression = DecompressionMethods.None,
            MaxConnectionsPerServer = options.Concurrency,
            PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        };
        using var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(10) };
        var uri = new Uri(baseAddress, EchoApp.Path);

        // Replays: the same few keys for every request, completed once before the clock starts (on the bare app too,
        // so both see exactly the same traffic).
        var replayKeys = Enumerable.Range(0, options.ReplayKeys).Select(_ => Guid.NewGuid().ToString()).ToArray();
        if (scenario == Scenario.Replays)
        {
            foreach (var key in replayKeys)
            {
                using var response = await SendAsync(client, uri, key, cancellationToken);
                if (response.StatusCode != HttpStatusCode.Created)
                {
                    throw new InvalidOperationException($"Priming key {key} answered {(int)response.StatusCode}.");
                }
            }
        }

        var counters = new Counters[options.Concurrency];
        var latencies = new List<double>[options.Concurrency];
        var measuring = false;
        var stop = false;
        var workers = new Task[options.Concurrency];
        for (var w = 0; w < workers.Length; w++)
        {
            var worker = w;
            latencies[w] = new List<double>(1024);
            workers[w] = Task.Run(async () =>
            {
                var sequence = worker;
                while (!Volatile.Read(ref stop) && !cancellationToken.IsCancellationRequested)
                {
                    var key = scenario == Scenario.FirstExecutions ? Guid.NewGuid().ToString() : replayKeys[sequence++ % replayKeys.Length];
                    var started = Stopwatch.GetTimestamp();
                    try
                    {
                        using var response = await SendAsync(client, uri, key, CancellationToken.None);
                        if (Volatile.Read(ref measuring))
                        {
                            latencies[worker].Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                        }

                        if (response.StatusCode == HttpStatusCode.Created)
                        {
                            Interlocked.Increment(ref counters[worker].Requests);
                            if (response.Headers.Contains("Idempotent-Replayed"))
                            {
                                Interlocked.Increment(ref counters[worker].Replayed);
                            }
                        }
                        else
                        {
                            Interlocked.Increment(ref counters[worker].Errors);
                        }
                    }
                    catch (HttpRequestException)
                    {
                        Interlocked.Increment(ref counters[worker].Errors);
                    }
                    catch (TaskCanceledException)
                    {
                        // HttpClient.Timeout.
                        Interlocked.Increment(ref counters[worker].Errors);
                    }
                }
            }, CancellationToken.None);
        }

        await Task.Delay(options.Warmup, cancellationToken);
        using var process = Process.GetCurrentProcess();
        var start = Sum(counters);
        var cpuStart = process.TotalProcessorTime;
        var machineStart = MachineCpu.Read();
        var jitStart = System.Runtime.JitInfo.GetCompilationTime();
        var allocatedStart = GC.GetTotalAllocatedBytes();
        var pauseStart = GC.GetTotalPauseDuration();
        var clock = Stopwatch.StartNew();
        Volatile.Write(ref measuring, true);
        await Task.Delay(options.Duration, cancellationToken);
        Volatile.Write(ref measuring, false);
        var end = Sum(counters);
        var elapsed = clock.Elapsed;
        var machineEnd = MachineCpu.Read();
        var jit = System.Runtime.JitInfo.GetCompilationTime() - jitStart;
        var allocated = GC.GetTotalAllocatedBytes() - allocatedStart;
        var pause = GC.GetTotalPauseDuration() - pauseStart;
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuStart;
        Volatile.Write(ref stop, true);
        await Task.WhenAll(workers);

        // Each list is its worker's alone, and every worker has stopped.
        var measured = latencies.SelectMany(l => l).ToArray();
        Array.Sort(measured);
        return new RunResult(
            end.Requests - start.Requests, end.Errors - start.Errors, end.Replayed - start.Replayed, elapsed, cpu, MachineCpu.CoresBusy(machineStart, machineEnd), jit, allocated, pause,
            measured);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, Uri uri, string key, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new ByteArrayContent(Body) };
        request.Content.Headers.ContentType = Json;
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);

        // ResponseContentRead: the whole body is read, as a real client would.
        var response = await client.SendAsync(request, HttpCompletionOption.ResponseContentRead, cancellationToken);
        return response;
    }

    private static Counters Sum(Counters[] counters)
    {
        var sum = default(Counters);
        for (var i = 0; i < counters.Length; i++)
        {
            sum.Requests += Interlocked.Read(ref counters[i].Requests);
            sum.Errors += Interlocked.Read(ref counters[i].Errors);
            sum.Replayed += Interlocked.Read(ref counters[i].Replayed);
        }

        return sum;
    }

    private struct Counters
    {
        public long Requests;
        public long Errors;
        public long Replayed;
    }
}
