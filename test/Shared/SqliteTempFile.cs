using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Idem.Testing;

/// <summary>
/// A SQLite file of a test's own in a folder under the temp directory, with a data source over it. Disposing it empties
/// the connection pool and deletes the file with its WAL files. Linked as source into the test projects that need one.
/// </summary>
internal class SqliteTempFile : IAsyncDisposable
{
    public SqliteTempFile(string folderName)
    {
        var folder = System.IO.Path.Combine(System.IO.Path.GetTempPath(), folderName);
        Directory.CreateDirectory(folder);
        Path = System.IO.Path.Combine(folder, Guid.NewGuid().ToString("N") + ".db");
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = Path, DefaultTimeout = 60 }.ToString();
        DataSource = SqliteFactory.Instance.CreateDataSource(ConnectionString);
    }

    public string Path { get; }

    public string ConnectionString { get; }

    public DbDataSource DataSource { get; }

    public Task ExecuteAsync(string sql) => DataSource.ExecuteAsync(sql);

    public Task<long> CountAsync(string sql) => DataSource.CountAsync(sql);

    public async ValueTask DisposeAsync()
    {
        await DataSource.DisposeAsync();
        using (var connection = new SqliteConnection(ConnectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(Path + suffix);
        }

        GC.SuppressFinalize(this);
    }
}

/// <summary>One statement on a connection of its own from a data source, for tests that set up or read a database.</summary>
internal static class DataSourceCommands
{
    public static async Task ExecuteAsync(this DbDataSource source, string sql)
    {
        await using var command = source.CreateCommand(sql);
        await command.ExecuteNonQueryAsync();
    }

    public static async Task<long> CountAsync(this DbDataSource source, string sql)
    {
        await using var command = source.CreateCommand(sql);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
