using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Idem.PaymentsLoad;

/// <summary>One statement of the request path over a window, as the service saw it.</summary>
/// <param name="Statement">The start of its SQL.</param>
/// <param name="Count">Times it ran.</param>
/// <param name="Milliseconds">Total time the service waited for it: the round trip, with the server's work and lock waits.</param>
/// <param name="Gaps">How many of its runs had a gap measured before them (all but a transaction's first).</param>
/// <param name="GapMilliseconds">Total time between the end of the transaction's previous command and its start: the service's own work between round trips, and its wait for a core.</param>
/// <param name="Position">Its mean place in the transaction, the claim being 0; NaN outside the request path's transactions.</param>
internal sealed record TracedStatement(string Statement, long Count, double Milliseconds, long Gaps, double GapMilliseconds, double Position);

/// <summary>The request path's transactions over a window: their statements, and how long they held both accounts' locks.</summary>
/// <param name="Statements">Every statement of the requests' pool.</param>
/// <param name="Transactions">Transactions seen from their claim to the completion of their key.</param>
/// <param name="ClaimToCompletionMs">Their total time from the claim's start to the completion's end (COMMIT follows).</param>
/// <param name="LockedToCompletionMs">Their total time from holding both accounts' locks to the completion's end.</param>
internal sealed record SqlTraceResult(IReadOnlyList<TracedStatement> Statements, long Transactions, double ClaimToCompletionMs, double LockedToCompletionMs);

/// <summary>
/// Opt-in (<c>--trace-sql</c>): every command of the service's requests' pool, from Npgsql's own tracing (activity
/// source <c>Npgsql</c>), grouped by statement, with the time the service spent between one command of a transaction and
/// the next, and how long a transaction goes on once it holds both accounts. A transaction on the request path begins with Idem's claim (<c>WITH clock AS</c>) and ends with the
/// completion of the key (<c>UPDATE … SET state = 1</c>), then COMMIT, which Npgsql sends without tracing it. Tracing
/// costs the service some CPU per command, so it stays off unless asked for.
/// </summary>
internal sealed partial class SqlTrace : IDisposable
{
    private const string QueryTag = "db.query.text";
    private const string ConnectionTag = "db.npgsql.connection_id";
    private const string DataSourceTag = "db.npgsql.data_source";

    private readonly ActivityListener _listener;
    private readonly ConcurrentDictionary<string, StatementTotals> _statements = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<long, Connection> _connections = new();
    private readonly TransactionTotals _transactions = new();
    private volatile bool _recording;

    public SqlTrace()
    {
        _listener = new ActivityListener
        {
            ShouldListenTo = source => source.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = OnStopped,
        };
        ActivitySource.AddActivityListener(_listener);
    }

    public void Start()
    {
        _statements.Clear();
        _connections.Clear();
        _transactions.Reset();
        _recording = true;
    }

    public SqlTraceResult Stop()
    {
        _recording = false;
        var (transactions, claimToCompletion, lockedToCompletion) = _transactions.Read();
        var statements = _statements.Select(s => s.Value.Read(s.Key)).OrderBy(s => double.IsNaN(s.Position) ? double.MaxValue : s.Position).ToList();
        return new SqlTraceResult(statements, transactions, claimToCompletion, lockedToCompletion);
    }

    private void OnStopped(Activity activity)
    {
        if (!_recording || activity.GetTagItem(QueryTag) is not string query || activity.GetTagItem(ConnectionTag) is not { } id
            || activity.GetTagItem(DataSourceTag) as string is PostgresProbe.MessagingPoolName or PostgresProbe.PoolName)
        {
            return;
        }

        var start = activity.StartTimeUtc;
        var end = start + activity.Duration;
        var statement = Shorten(query);
        var isClaim = query.Contains("WITH clock AS", StringComparison.Ordinal);
        var isLock = query.Contains("FOR UPDATE", StringComparison.Ordinal) && query.TrimStart().StartsWith("SELECT", StringComparison.Ordinal);
        var isCompletion = query.TrimStart().StartsWith("UPDATE", StringComparison.Ordinal) && query.Contains("SET state = 1", StringComparison.Ordinal);

        var totals = _statements.GetOrAdd(statement, _ => new StatementTotals());
        var connection = _connections.GetOrAdd(Convert.ToInt64(id, System.Globalization.CultureInfo.InvariantCulture), _ => new Connection());
        lock (connection)
        {
            if (isClaim)
            {
                connection.ClaimStart = start;
                connection.LocksEnd = null;
                connection.Position = 0;
            }
            else if (connection.ClaimStart is not null && connection.LastEnd is { } previous)
            {
                connection.Position++;
                totals.AddGap((start - previous).TotalMilliseconds);
            }

            totals.Add(activity.Duration.TotalMilliseconds, connection.ClaimStart is null ? null : connection.Position);

            if (isLock && connection.ClaimStart is not null)
            {
                connection.LocksEnd = end;
            }

            if (isCompletion && connection.ClaimStart is { } claimStart)
            {
                _transactions.Add((end - claimStart).TotalMilliseconds, connection.LocksEnd is { } locked ? (end - locked).TotalMilliseconds : 0);
                connection.ClaimStart = null;
                connection.LocksEnd = null;
            }

            connection.LastEnd = end;
        }
    }

    private static string Shorten(string query)
    {
        var line = Whitespace().Replace(query, " ").Trim();
        return line.Length <= 80 ? line : line[..77] + "...";
    }

    public void Dispose() => _listener.Dispose();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();

    private sealed class Connection
    {
        public DateTime? ClaimStart { get; set; }

        public DateTime? LocksEnd { get; set; }

        public DateTime? LastEnd { get; set; }

        public int Position { get; set; }
    }

    private sealed class StatementTotals
    {
        private readonly Lock _lock = new();
        private long _count;
        private double _milliseconds;
        private long _gaps;
        private double _gapMilliseconds;
        private long _placed;
        private long _positions;

        public void Add(double milliseconds, int? position)
        {
            lock (_lock)
            {
                _count++;
                _milliseconds += milliseconds;
                if (position is { } place)
                {
                    _placed++;
                    _positions += place;
                }
            }
        }

        public void AddGap(double milliseconds)
        {
            lock (_lock)
            {
                _gaps++;
                _gapMilliseconds += milliseconds;
            }
        }

        public TracedStatement Read(string statement)
        {
            lock (_lock)
            {
                return new TracedStatement(statement, _count, _milliseconds, _gaps, _gapMilliseconds, _placed == 0 ? double.NaN : (double)_positions / _placed);
            }
        }
    }

    private sealed class TransactionTotals
    {
        private readonly Lock _lock = new();
        private long _count;
        private double _claimToCompletion;
        private double _lockedToCompletion;

        public void Add(double claimToCompletion, double lockedToCompletion)
        {
            lock (_lock)
            {
                _count++;
                _claimToCompletion += claimToCompletion;
                _lockedToCompletion += lockedToCompletion;
            }
        }

        public (long Count, double ClaimToCompletion, double LockedToCompletion) Read()
        {
            lock (_lock)
            {
                return (_count, _claimToCompletion, _lockedToCompletion);
            }
        }

        public void Reset()
        {
            lock (_lock)
            {
                (_count, _claimToCompletion, _lockedToCompletion) = (0, 0, 0);
            }
        }
    }
}
