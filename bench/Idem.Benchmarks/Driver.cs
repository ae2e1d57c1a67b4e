using System.Diagnostics.Tracing;
using System.Globalization;

namespace Idem.Benchmarks;

/// <summary>
/// A plain loop over <see cref="MiddlewareBenchmarks"/> for instruction counting outside BenchmarkDotNet:
/// <c>perf stat -e instructions:u dotnet Idem.Benchmarks.dll --drive first 200000</c>, run at two request counts and
/// subtract, so start-up and the JIT cancel out. Instruction counts do not move with the machine's load; wall-clock time does.
/// Under valgrind, <c>--pause</c> warms up first and waits on stdin so the counter can be zeroed; see eng/icount.sh.
/// Modes: <c>bare</c>, <c>first</c> (store recycled every 16K keys, as in the benchmark), <c>first-kept</c> (one store
/// keeps every record, as in the HTTP harness, so the GC's copying of kept records counts), <c>replay</c>.
/// </summary>
internal static class Driver
{
    public static async Task<int> RunAsync(string mode, int requests, bool pause, bool allocationTypes = false)
    {
        using var sampler = allocationTypes ? new AllocationSampler() : null;
        var benchmarks = new MiddlewareBenchmarks();
        await benchmarks.Setup();
        Func<Task> step = mode switch
        {
            "bare" => benchmarks.Bare,
            "first" => benchmarks.FirstExecution,
            "first-kept" => benchmarks.FirstExecutionKept,
            "replay" => benchmarks.Replay,
            "fingerprint" => benchmarks.Fingerprint,
            _ => throw new ArgumentException($"Unknown mode '{mode}': bare, first, first-kept or replay."),
        };

        if (pause)
        {
            // Warm up and let tiered compilation finish, then wait for the instruction counter to be zeroed
            // (callgrind_control -z) and a line on stdin.
            for (var i = 0; i < 3000; i++)
            {
                await step();
            }

            Thread.Sleep(3000);
            GC.Collect();
            Console.WriteLine("WARM");
            Console.Out.Flush();
            Console.ReadLine();
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread();
        var collections = GC.CollectionCount(0);
        var cpu = TimeSpan.Zero;
        for (var i = 0; i < requests; i++)
        {
            if (i == requests / 2)
            {
                // The second half alone is timed: by then the JIT has settled. Process CPU, so the GC's threads count too.
                cpu = Environment.CpuUsage.TotalTime;
            }

            await step();
        }

        cpu = Environment.CpuUsage.TotalTime - cpu;
        allocated = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"{mode}: {requests} requests, {(double)allocated / requests:0} B allocated per request, {GC.CollectionCount(0) - collections} gen-0 collections, {cpu.TotalMicroseconds / (requests - requests / 2):0.00} us CPU per request over the second half"));
        sampler?.Print(requests);
        return 0;
    }

    /// <summary>The runtime's allocation sampling (one event per ~100 KB allocated, with the type), summed by type.</summary>
    private sealed class AllocationSampler : EventListener
    {
        private readonly Dictionary<string, long> _bytes = [];

        public void Print(int requests)
        {
            lock (_bytes)
            {
                foreach (var (type, bytes) in _bytes.OrderByDescending(p => p.Value).Take(25))
                {
                    Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {(double)bytes / requests,8:0} B/req  {type}"));
                }
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            {
                EnableEvents(eventSource, EventLevel.Verbose, (EventKeywords)0x1);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true || eventData.Payload is null)
            {
                return;
            }

            var type = eventData.Payload[eventData.PayloadNames!.IndexOf("TypeName")] as string ?? "?";
            var amount = Convert.ToInt64(eventData.Payload[eventData.PayloadNames.IndexOf("AllocationAmount64")], CultureInfo.InvariantCulture);
            lock (_bytes)
            {
                _bytes[type] = _bytes.GetValueOrDefault(type) + amount;
            }
        }
    }
}
