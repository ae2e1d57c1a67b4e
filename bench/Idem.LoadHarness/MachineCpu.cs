using System.Globalization;

namespace Idem.LoadHarness;

/// <summary>
/// Machine-wide CPU time from <c>/proc/stat</c>, so a report shows how much of the machine other processes took while
/// a run was measured: on a shared 2-core machine that is the largest source of noise.
/// </summary>
internal static class MachineCpu
{
    public readonly record struct Sample(long BusyTicks, long TotalTicks, long Timestamp);

    public static Sample? Read()
    {
        try
        {
            // "cpu  user nice system idle iowait irq softirq steal ..." in USER_HZ ticks.
            var line = File.ReadLines("/proc/stat").First();
            var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Select(f => long.Parse(f, CultureInfo.InvariantCulture)).ToArray();
            var idle = fields[3] + (fields.Length > 4 ? fields[4] : 0);
            var total = fields.Take(Math.Min(fields.Length, 8)).Sum();
            return new Sample(total - idle, total, System.Diagnostics.Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>Busy cores over the interval: busy share of all ticks times the core count.</summary>
    public static double CoresBusy(Sample? start, Sample? end)
    {
        if (start is not { } a || end is not { } b || b.TotalTicks <= a.TotalTicks)
        {
            return double.NaN;
        }

        return (double)(b.BusyTicks - a.BusyTicks) / (b.TotalTicks - a.TotalTicks) * Environment.ProcessorCount;
    }
}
