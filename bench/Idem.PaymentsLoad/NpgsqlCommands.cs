using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Idem.PaymentsLoad;

/// <summary>
/// Counts the commands Npgsql sends from this process, per pool, from its own metrics (meter <c>Npgsql</c>, histogram
/// <c>db.client.operation.duration</c>): a command is one round trip, however many statements it holds. COMMIT and
/// ROLLBACK are not commands (Npgsql sends them itself) and BEGIN rides with the next command, so neither is counted.
/// </summary>
internal sealed class NpgsqlCommands : IDisposable
{
    private const string MeterName = "Npgsql";
    private const string OperationDuration = "db.client.operation.duration";

    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, Totals> _pools = new(StringComparer.Ordinal);

    public NpgsqlCommands()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && instrument.Name == OperationDuration)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<double>(OnMeasurement);
        _listener.Start();
    }

    /// <summary>Commands and their total time (seconds, as the client waited for them) so far, per pool.</summary>
    public IReadOnlyDictionary<string, (long Commands, double Seconds)> Snapshot()
        => _pools.ToDictionary(p => p.Key, p => p.Value.Read(), StringComparer.Ordinal);

    public static IReadOnlyDictionary<string, (long Commands, double Seconds)> Difference(
        IReadOnlyDictionary<string, (long Commands, double Seconds)> start, IReadOnlyDictionary<string, (long Commands, double Seconds)> end)
        => end.ToDictionary(
            p => p.Key,
            p => start.TryGetValue(p.Key, out var before) ? (p.Value.Commands - before.Commands, p.Value.Seconds - before.Seconds) : p.Value,
            StringComparer.Ordinal);

    private void OnMeasurement(Instrument instrument, double seconds, ReadOnlySpan<KeyValuePair<string, object?>> tags, object? state)
    {
        var pool = "";
        foreach (var tag in tags)
        {
            if (tag.Key.EndsWith("pool.name", StringComparison.Ordinal))
            {
                pool = tag.Value as string ?? "";
            }
        }

        _pools.GetOrAdd(pool, _ => new Totals()).Add(seconds);
    }

    public void Dispose() => _listener.Dispose();

    private sealed class Totals
    {
        private readonly Lock _lock = new();
        private long _commands;
        private double _seconds;

        public void Add(double seconds)
        {
            lock (_lock)
            {
                _commands++;
                _seconds += seconds;
            }
        }

        public (long Commands, double Seconds) Read()
        {
            lock (_lock)
            {
                return (_commands, _seconds);
            }
        }
    }
}
