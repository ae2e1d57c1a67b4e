using Idem.Testing;
using Xunit.Abstractions;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Sqlite.Tests;

/// <summary>
/// A process holding a key on a shared SQLite file is killed (SIGKILL) after its recovery point: the key frees itself
/// when the default lease runs out, and the retry resumes at the point (see <see cref="KilledHolder"/>). Takes about a
/// lease (30 s).
/// </summary>
public sealed class SqliteKilledHolderTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Retry_HolderKilledAfterRecoveryPoint_ResumesOnceWhenTheDefaultLeaseRunsOut()
    {
        using var database = new TempDatabase();
        database.Execute("CREATE TABLE charges (key TEXT NOT NULL);");

        var held = await KilledHolder.RetryAfterKillAsync(
            "sqlite",
            database.ConnectionString,
            "-",
            idempotency => idempotency.AddSqliteStore(database.ConnectionString),
            key => ExecuteAsync(database, "INSERT INTO charges (key) VALUES ($key)", key),
            key => ExecuteAsync(database, "SELECT COUNT(*) FROM charges WHERE key = $key", key));
        output.WriteLine($"The killed holder's key was held {held.TotalSeconds:F1} s after the kill.");
    }

    private static async Task<long> ExecuteAsync(TempDatabase database, string sql, string key)
    {
        await using var connection = database.Open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$key", key);
        return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L, System.Globalization.CultureInfo.InvariantCulture);
    }
}
