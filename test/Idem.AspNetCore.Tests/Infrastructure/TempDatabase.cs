using Microsoft.Data.Sqlite;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>A SQLite database file in its own temporary folder, removed on dispose.</summary>
internal sealed class TempDatabase : IDisposable
{
    public const string KeyTable = "idem_keys";

    public TempDatabase()
    {
        Folder = Directory.CreateTempSubdirectory("idem-aspnetcore-tests-").FullName;
        Path = System.IO.Path.Combine(Folder, "idem.db");
        ConnectionString = new SqliteConnectionStringBuilder { DataSource = Path }.ToString();
        Execute("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS transfers (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL, call INTEGER NOT NULL DEFAULT 0);");
    }

    public string Folder { get; }

    public string Path { get; }

    /// <summary>What the store is given.</summary>
    public string ConnectionString { get; }

    /// <summary>Runs one statement on a connection of its own (unpooled, so the file is not held open) and returns the first value.</summary>
    public long Scalar(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public void Execute(string sql)
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public long Rows => Scalar("SELECT COUNT(*) FROM transfers");

    public long Keys => Scalar($"SELECT COUNT(*) FROM {KeyTable}");

    public void Dispose()
    {
        try
        {
            Directory.Delete(Folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder(ConnectionString) { Pooling = false }.ToString());
        connection.Open();
        return connection;
    }
}
