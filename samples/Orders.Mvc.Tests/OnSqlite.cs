using Microsoft.Data.Sqlite;

namespace Samples.Tests;

/// <summary>The MVC sample on a SQLite file of its own.</summary>
public sealed class OnSqlite : ExactlyOnceTests
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "idem-sample-" + Guid.NewGuid().ToString("N") + ".db");

    protected override Task<string> CreateDatabaseAsync() => Task.FromResult(new SqliteConnectionStringBuilder { DataSource = _path }.ToString());

    protected override Task DropDatabaseAsync()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }

        return Task.CompletedTask;
    }
}
