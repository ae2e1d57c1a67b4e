using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;

namespace Idem.PaymentsLoad;

/// <summary>The Markdown report of a sitting: medians over the rounds, and where a transfer's time went on PostgreSQL.</summary>
internal static partial class Report
{
    private static readonly CultureInfo Culture = CultureInfo.InvariantCulture;

    public static string Write(LoadOptions options, IReadOnlyList<RunResult> results, IReadOnlyList<(int Round, PgbenchResult Result)> pgbench)
    {
        var text = new StringBuilder();
        var where = options.Url is null ? "the service in this process on Kestrel, over loopback, a fresh database per run" : $"the service at {options.Url}";
        text.AppendLine(Culture, $"Payments under load: POST /v1/transfers of 1 minor unit, a new Idempotency-Key each, between {options.Accounts} accounts of one tenant; {options.Connections} connections; {options.Warmup.TotalSeconds:0} s warm-up + {options.Duration.TotalSeconds:0} s measured per run; {options.Rounds} round(s), medians; {where}.");
        var process = options.Url is null ? "load generator and service in one process" : "the load generator's process";
        text.AppendLine(Culture, $"{Environment.ProcessorCount} cores, {RuntimeInformation.FrameworkDescription}, {RuntimeInformation.OSDescription}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC ({process}).");
        text.AppendLine();

        var groups = results.GroupBy(r => (r.Target, r.Hot)).ToList();
        var pgbenchByRound = pgbench.ToDictionary(p => p.Round, p => p.Result.TransactionsPerSecond);
        text.AppendLine("| database | hot share | transfers/s | per round | ÷ spread | p50 ms | p99 ms | max ms | 201 | 409 | 422 | 503 | other | commits/transfer | ÷ pgbench |");
        text.AppendLine("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        var spread = results.Where(r => r.Hot == 0).ToDictionary(r => (r.Target, r.Round), r => r.Load.TransfersPerSecond);
        foreach (var group in groups)
        {
            var runs = group.OrderBy(r => r.Round).ToList();
            var statuses = runs.Aggregate(default(StatusCounts), (sum, r) => sum + r.Load.Window);
            var perRound = string.Join(", ", runs.Select(r => r.Load.TransfersPerSecond.ToString("N0", Culture)));
            var commits = runs.Where(r => r.Postgres is not null).Select(r => r.Postgres!.CommitsPerTransfer).ToList();
            var ratios = group.Key.Target == TargetKind.Sqlite
                ? []
                : runs.Where(r => pgbenchByRound.ContainsKey(r.Round)).Select(r => r.Load.TransfersPerSecond / pgbenchByRound[r.Round]).ToList();
            var againstSpread = group.Key.Hot == 0
                ? []
                : runs.Where(r => spread.ContainsKey((r.Target, r.Round))).Select(r => r.Load.TransfersPerSecond / spread[(r.Target, r.Round)]).ToList();
            text.AppendLine(Culture,
                $"| {PaymentsTarget.Name(group.Key.Target)} | {group.Key.Hot:0.##} | **{Median(runs.Select(r => r.Load.TransfersPerSecond)):N0}** | {perRound} | {Optional(againstSpread, "0.00")} | {Median(runs.Select(r => r.Load.Percentile(0.5))):0.0} | {Median(runs.Select(r => r.Load.Percentile(0.99))):0.0} | {Median(runs.Select(r => r.Load.Percentile(1))):0} | {statuses.Created:N0} | {statuses.Conflict:N0} | {statuses.Unprocessable:N0} | {statuses.Unavailable:N0} | {statuses.Other:N0} | {Optional(commits, "0.00")} | {Optional(ratios, "0.000")} |");
        }

        text.AppendLine();
        text.AppendLine("÷ spread: transfers/s over the same database's at hot share 0 in the same round, median over the rounds.");
        if (pgbench.Count > 0)
        {
            text.AppendLine();
            text.AppendLine(Culture, $"pgbench on the same PostgreSQL server, {options.Connections} clients, {options.Duration.TotalSeconds:0} s, each transaction one single-row INSERT … ON CONFLICT DO NOTHING (prepared): **{Median(pgbench.Select(p => p.Result.TransactionsPerSecond)):N0} tps** (per round {string.Join(", ", pgbench.Select(p => p.Result.TransactionsPerSecond.ToString("N0", Culture)))}), mean latency {Median(pgbench.Select(p => p.Result.LatencyMs)):0.0} ms. ÷ pgbench above is transfers/s over pgbench's tps of the same round, median over the rounds.");
        }

        WritePostgres(text, groups.Where(g => g.Any(r => r.Postgres is not null)).ToList());

        text.AppendLine();
        var machine = results.Select(r => r.Load.MachineCores).Where(c => !double.IsNaN(c)).DefaultIfEmpty(double.NaN).ToList();
        text.AppendLine(Culture, $"While measuring, this process kept {results.Average(r => r.Load.ProcessCores):0.00} of the {Environment.ProcessorCount} cores busy on average, and the whole machine (database server and other processes included) {machine.Average():0.00} (max {machine.Max():0.00}).");
        text.AppendLine();
        var failed = results.Where(r => !r.Ok).ToList();
        var settled = results.Sum(r => r.Settled);
        text.AppendLine(failed.Count == 0
            ? string.Create(Culture, $"Checks: every run applied each transfer answered 201 exactly once and nothing else ({(options.Url is not null && options.Postgres is null ? "the accounts' transfer entries" : "the transfer rows")} against the answered ids, every balance, the ledger's audit); {settled} transfers without a final answer were sent again under their key before checking.")
            : string.Create(Culture, $"Checks FAILED in {failed.Count} of {results.Count} runs; see the errors above."));
        return text.ToString();
    }

    private static void WritePostgres(StringBuilder text, List<IGrouping<(TargetKind Target, double Hot), RunResult>> groups)
    {
        if (groups.Count == 0)
        {
            return;
        }

        text.AppendLine();
        text.AppendLine("On PostgreSQL, per transfer answered 201 in the measured window (medians over the rounds). A command is one round trip from the service; COMMIT is one more on each transaction, not counted among the commands; BEGIN rides with the first command. Commits are the database's (pg_stat_database.xact_commit: every transaction, read-only ones and a pooled connection's reset included); WAL flushes are the whole server's (pg_stat_wal.wal_sync), other databases' included. Requests' pool: the requests, and the completer and hold expirer, which look once a second; messaging pool: the outbox relay and the statements consumer.");
        text.AppendLine();
        text.AppendLine("| hot share | commands, requests' pool | ms per command, as the service waited | ms in commands | commands, messaging pool | commits | WAL flushes, whole server |");
        text.AppendLine("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var group in groups)
        {
            var windows = group.Where(r => r.Postgres is not null).Select(r => r.Postgres!).ToList();
            text.AppendLine(Culture,
                $"| {group.Key.Hot:0.##} | {Median(windows.Select(w => w.Per(w.RequestCommands))):0.0} | {Median(windows.Select(w => w.RequestCommandSeconds * 1000 / Math.Max(1, w.RequestCommands))):0.00} | {Median(windows.Select(w => w.Per(w.RequestCommandSeconds * 1000))):0.0} | {Median(windows.Select(w => w.Per(w.EventCommands))):0.0} | {Median(windows.Select(w => w.CommitsPerTransfer)):0.00} | {Median(windows.Select(w => w.Per(w.WalSyncs))):0.00} |");
        }

        text.AppendLine();
        text.AppendLine("What the service's sessions were doing (pg_stat_activity every 50 ms; mean number of sessions, all rounds):");
        text.AppendLine();
        text.AppendLine("| hot share | part | doing | sessions |");
        text.AppendLine("| ---: | --- | --- | ---: |");
        foreach (var group in groups)
        {
            var profiles = group.Where(r => r.Postgres is not null).Select(r => r.Postgres!.Sessions).ToList();
            var samples = profiles.Sum(p => p.Samples);
            var merged = profiles.SelectMany(p => p.Counts).GroupBy(c => c.Key).Select(g => (g.Key.Role, g.Key.Doing, Mean: samples == 0 ? 0 : (double)g.Sum(c => c.Value) / samples));
            foreach (var (role, doing, mean) in merged.Where(m => m.Mean >= 0.05).OrderBy(m => m.Role, StringComparer.Ordinal).ThenByDescending(m => m.Mean))
            {
                text.AppendLine(Culture, $"| {group.Key.Hot:0.##} | {role} | {doing} | {mean:0.0} |");
            }
        }

        foreach (var group in groups)
        {
            WriteTrace(text, group.Key.Hot, group.Where(r => r.Postgres?.Trace is not null).Select(r => r.Postgres!).ToList());
        }

        foreach (var group in groups)
        {
            var windows = group.Where(r => r.Postgres?.Statements is not null).Select(r => r.Postgres!).ToList();
            if (windows.Count == 0)
            {
                continue;
            }

            var transfers = windows.Sum(w => w.Transfers);
            var statements = windows.SelectMany(w => w.Statements!).GroupBy(s => s.Query, StringComparer.Ordinal)
                .Select(g => (Query: g.Key, Calls: g.Sum(s => s.Calls), Milliseconds: g.Sum(s => s.TotalMilliseconds)))
                .OrderByDescending(s => s.Milliseconds).ToList();
            var total = statements.Sum(s => s.Milliseconds);
            text.AppendLine();
            text.AppendLine(Culture, $"Statements at hot share {group.Key.Hot:0.##} (pg_stat_statements, all rounds; time in the server, lock waits included; a COMMIT's WAL flush is not, it follows the statement: see the sessions writing or flushing the WAL above):");
            text.AppendLine();
            text.AppendLine("| statement | calls per transfer | mean ms | share of the time |");
            text.AppendLine("| --- | ---: | ---: | ---: |");
            // Everything a transfer runs at least once in a hundred, COMMIT and the pool's resets included.
            foreach (var statement in statements.Where(s => s.Calls >= transfers / 100.0 || s.Milliseconds >= total / 100))
            {
                text.AppendLine(Culture,
                    $"| `{Shorten(statement.Query)}` | {(double)statement.Calls / Math.Max(1, transfers):0.00} | {statement.Milliseconds / Math.Max(1, statement.Calls):0.00} | {statement.Milliseconds / total:P0} |");
            }

            text.AppendLine(Culture, $"| all statements | {(double)statements.Sum(s => s.Calls) / Math.Max(1, transfers):0.0} | | |");
        }
    }

    private static void WriteTrace(StringBuilder text, double hot, List<PostgresWindow> windows)
    {
        if (windows.Count == 0)
        {
            return;
        }

        var transfers = Math.Max(1, windows.Sum(w => w.Transfers));
        var transactions = Math.Max(1, windows.Sum(w => w.Trace!.Transactions));
        var statements = windows.SelectMany(w => w.Trace!.Statements).GroupBy(s => s.Statement, StringComparer.Ordinal)
            .Select(g => (Statement: g.Key, Count: g.Sum(s => s.Count), Milliseconds: g.Sum(s => s.Milliseconds), Gaps: g.Sum(s => s.Gaps),
                GapMilliseconds: g.Sum(s => s.GapMilliseconds), Position: g.Average(s => s.Position)))
            .OrderBy(s => double.IsNaN(s.Position) ? double.MaxValue : s.Position).ToList();
        text.AppendLine();
        text.AppendLine(Culture, $"The request path at hot share {hot:0.##}, traced (Npgsql's tracing, all rounds): from the claim to the completion of the key a transaction took {windows.Sum(w => w.Trace!.ClaimToCompletionMs) / transactions:0.0} ms on average, {windows.Sum(w => w.Trace!.LockedToCompletionMs) / transactions:0.0} ms of it once it held both accounts' locks; COMMIT follows, with the locks held until it ends.");
        text.AppendLine();
        text.AppendLine("| statement | per transfer | round trip ms | the service's time before it, ms |");
        text.AppendLine("| --- | ---: | ---: | ---: |");
        foreach (var statement in statements.Where(s => s.Count >= transfers / 100.0))
        {
            var gap = statement.Gaps == 0 ? "" : (statement.GapMilliseconds / statement.Gaps).ToString("0.00", Culture);
            text.AppendLine(Culture, $"| `{Shorten(statement.Statement)}` | {(double)statement.Count / transfers:0.00} | {statement.Milliseconds / Math.Max(1, statement.Count):0.00} | {gap} |");
        }
    }

    private static string Shorten(string query)
    {
        var line = Whitespace().Replace(query, " ").Trim().Replace("|", "\\|", StringComparison.Ordinal).Replace("`", "'", StringComparison.Ordinal);
        return line.Length <= 90 ? line : line[..87] + "...";
    }

    private static string Optional(List<double> values, string format) => values.Count == 0 ? "–" : Median(values).ToString(format, Culture);

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Where(v => !double.IsNaN(v)).Order().ToArray();
        if (sorted.Length == 0)
        {
            return double.NaN;
        }

        var middle = sorted.Length / 2;
        return sorted.Length % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
