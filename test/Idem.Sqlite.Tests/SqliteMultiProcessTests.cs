using System.Diagnostics;
using System.Text;

namespace Idem.Sqlite.Tests;

/// <summary>
/// Several processes share one database file, as several workers of one service on one machine would: each key runs once.
/// The child processes are Idem.Sqlite.Tests.Worker, copied into <c>worker/</c> beside this assembly by the build.
/// </summary>
public sealed class SqliteMultiProcessTests
{
    private const int Keys = 150;
    private const int Attempts = 5;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task SeveralProcesses_RacingOnOneFile_RunEachKeyExactlyOnce()
    {
        // SQLite does not queue writers fairly: a process waiting for the write lock sleeps in the busy handler, up to
        // 100 ms at a time, and can find the lock taken each time it wakes. On a loaded machine one process can so run
        // all its keys before another gets the lock once. Such a run checks every key, but no race between processes;
        // it is repeated on a fresh file, and only runs in which several processes won keys count as the race.
        for (var attempt = 1; attempt <= Attempts; attempt++)
        {
            using var database = new TempDatabase();
            if (await RaceAsync(database) > 1)
            {
                return;
            }
        }

        Assert.Fail($"In {Attempts} runs one process won every key: the processes never raced.");
    }

    /// <summary>Runs the workers against one new file, checks that each key ran once, and returns how many processes won keys.</summary>
    private static async Task<int> RaceAsync(TempDatabase database)
    {
        // The store's schema does not exist yet: the workers' first calls also race to switch to WAL and create it.
        database.Execute("CREATE TABLE runs (key TEXT NOT NULL, worker TEXT NOT NULL);");
        string[] modes = ["standalone", "transactional", "standalone", "transactional"];
        var workers = modes.Select((mode, i) => StartWorker(database, $"w{i}", mode)).ToList();
        try
        {
            foreach (var worker in workers)
            {
                Assert.Equal("ready", await worker.StandardOutput.ReadLineAsync().WaitAsync(Timeout));
            }

            foreach (var worker in workers)
            {
                await worker.StandardInput.WriteLineAsync("go");
                await worker.StandardInput.FlushAsync();
            }

            var outputs = await Task.WhenAll(workers.Select(ReadToExitAsync));

            var claimedBy = new Dictionary<string, List<string>>();
            var seen = new List<(string Worker, string Key, string Winner)>();
            for (var i = 0; i < workers.Count; i++)
            {
                var lines = outputs[i].Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                Assert.Equal("done", lines[^1]);
                Assert.Equal(Keys, lines.Length - 1);
                foreach (var parts in lines[..^1].Select(l => l.Split(' ')))
                {
                    if (parts[0] == "claimed")
                    {
                        var winners = claimedBy.TryGetValue(parts[1], out var list) ? list : claimedBy[parts[1]] = [];
                        winners.Add($"w{i}");
                    }
                    else
                    {
                        Assert.Equal("saw", parts[0]);
                        seen.Add(($"w{i}", parts[1], parts[2]));
                    }
                }
            }

            // Exactly one process ran each key, and everyone else replayed that process's response.
            Assert.Equal(Keys, claimedBy.Count);
            Assert.All(claimedBy, pair => Assert.True(pair.Value.Count == 1, $"{pair.Key} was claimed by {string.Join(", ", pair.Value)}."));
            Assert.Equal(Keys * (workers.Count - 1), seen.Count);
            Assert.All(seen, s => Assert.Equal(claimedBy[s.Key][0], s.Winner));

            // The database agrees: one completed record per key holding its winner's body, one effect per key.
            Assert.Equal(Keys, database.Scalar<long>("SELECT COUNT(*) FROM idem_keys WHERE state = 1 AND owner IS NULL;"));
            Assert.Equal(Keys, database.Scalar<long>("SELECT COUNT(*) FROM runs;"));
            Assert.Equal(Keys, database.Scalar<long>("SELECT COUNT(DISTINCT key) FROM runs;"));
            using var connection = database.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT k.key, CAST(k.body AS TEXT), r.worker FROM idem_keys k JOIN runs r ON r.key = k.key;";
            using var reader = command.ExecuteReader();
            var rows = 0;
            while (reader.Read())
            {
                rows++;
                var winner = claimedBy[reader.GetString(0)][0];
                Assert.Equal(winner, reader.GetString(1));
                Assert.Equal(winner, reader.GetString(2));
            }

            Assert.Equal(Keys, rows);
            return claimedBy.Values.Select(w => w[0]).Distinct().Count();
        }
        finally
        {
            foreach (var worker in workers)
            {
                if (!worker.HasExited)
                {
                    worker.Kill(entireProcessTree: true);
                }

                worker.Dispose();
            }
        }
    }

    private static Process StartWorker(TempDatabase database, string id, string mode)
    {
        var workerDll = Path.Combine(AppContext.BaseDirectory, "worker", "Idem.Sqlite.Tests.Worker.dll");
        Assert.True(File.Exists(workerDll), $"The worker was not built next to the tests: {workerDll}.");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        foreach (var argument in new[] { workerDll, database.Path, id, Keys.ToString(System.Globalization.CultureInfo.InvariantCulture), mode })
        {
            start.ArgumentList.Add(argument);
        }

        return Process.Start(start) ?? throw new InvalidOperationException("The worker did not start.");
    }

    private static async Task<string> ReadToExitAsync(Process worker)
    {
        var output = worker.StandardOutput.ReadToEndAsync();
        var error = worker.StandardError.ReadToEndAsync();
        await worker.WaitForExitAsync().WaitAsync(Timeout);
        var stdout = await output;
        var stderr = await error;
        Assert.True(worker.ExitCode == 0, $"Worker exited with {worker.ExitCode}: {stderr}\n{stdout}");
        return stdout;
    }
}
