using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Npgsql;

namespace Idem.PaymentsLoad;

/// <summary>What pgbench measured: committed transactions per second and their mean latency.</summary>
internal sealed record PgbenchResult(double TransactionsPerSecond, double LatencyMs);

/// <summary>
/// The floor under any transfer on the same server: pgbench at the same clients and duration, each transaction one
/// single-row <c>INSERT … ON CONFLICT DO NOTHING</c> of a random key into a scratch table (one commit, one WAL flush), in
/// a database of its own, dropped afterwards.
/// </summary>
internal static partial class Pgbench
{
    private const string Script = """
        \set id random(1, 9000000000000000000)
        INSERT INTO scratch (id) VALUES (:id) ON CONFLICT DO NOTHING;
        """;

    public static async Task<PgbenchResult> RunAsync(string server, LoadOptions options, CancellationToken cancellationToken)
    {
        await using var database = await ScratchDatabase.CreateAsync(server, "idem_pgbench_", cancellationToken);
        await using (var dataSource = NpgsqlDataSource.Create(database.ConnectionString(1, "idem-payments-load")))
        {
            await using var create = dataSource.CreateCommand("CREATE TABLE scratch (id bigint PRIMARY KEY, created_at timestamptz NOT NULL DEFAULT now())");
            await create.ExecuteNonQueryAsync(cancellationToken);
        }

        var script = Path.Combine(Path.GetTempPath(), "idem-pgbench-" + Guid.NewGuid().ToString("N")[..12] + ".sql");
        await File.WriteAllTextAsync(script, Script + "\n", cancellationToken);
        try
        {
            var connection = new NpgsqlConnectionStringBuilder(server);
            var start = new ProcessStartInfo(options.PgbenchPath)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };

            // -n: no vacuum of pgbench's own tables (there are none); -M prepared: parsed once per connection.
            string[] arguments =
            [
                "-n", "-M", "prepared",
                "-c", Invariant(options.Connections),
                "-j", Invariant(Math.Min(options.Connections, Environment.ProcessorCount)),
                "-T", Invariant((int)options.Duration.TotalSeconds),
                "-f", script,
                "-h", connection.Host ?? "127.0.0.1",
                "-p", Invariant(connection.Port),
                "-U", connection.Username ?? Environment.UserName,
                database.Name,
            ];
            foreach (var argument in arguments)
            {
                start.ArgumentList.Add(argument);
            }

            // pgbench takes the password from the environment, never from its command line.
            if (connection.Password is { Length: > 0 } password)
            {
                start.Environment["PGPASSWORD"] = password;
            }

            start.Environment["PGAPPNAME"] = "idem-payments-load-pgbench";
            using var process = Process.Start(start) ?? throw new InvalidOperationException($"{options.PgbenchPath} did not start.");
            var output = process.StandardOutput.ReadToEndAsync(cancellationToken);
            var errors = process.StandardError.ReadToEndAsync(cancellationToken);
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            deadline.CancelAfter(options.Duration + TimeSpan.FromMinutes(1));
            try
            {
                await process.WaitForExitAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw;
            }

            var text = await output;
            if (process.ExitCode != 0 || Tps().Match(text) is not { Success: true } tps)
            {
                var stderr = await errors;
                throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"pgbench exited with {process.ExitCode}: {text}{stderr}"));
            }

            var latency = Latency().Match(text);
            return new PgbenchResult(
                double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture),
                latency.Success ? double.Parse(latency.Groups[1].Value, CultureInfo.InvariantCulture) : double.NaN);
        }
        finally
        {
            File.Delete(script);
        }
    }

    private static string Invariant(int value) => value.ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^tps = ([0-9.]+)", RegexOptions.Multiline)]
    private static partial Regex Tps();

    [GeneratedRegex(@"^latency average = ([0-9.]+) ms", RegexOptions.Multiline)]
    private static partial Regex Latency();
}
