using System.Data.Common;
using Idem.Messaging;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Idem.Benchmarks;

/// <summary>The databases the messaging benchmarks run on.</summary>
public enum MessagingDatabaseKind
{
    /// <summary>A SQLite file under the temp folder (WAL).</summary>
    Sqlite,

    /// <summary>The PostgreSQL named by <c>IDEM_TEST_POSTGRES</c>, in a schema of the run's own.</summary>
    Postgres,
}

/// <summary>A database of one benchmark run's own, removed at the end.</summary>
internal sealed class BenchDatabase : IAsyncDisposable
{
    private readonly string? _path;

    public BenchDatabase(MessagingDatabaseKind kind)
    {
        Kind = kind;
        if (kind == MessagingDatabaseKind.Sqlite)
        {
            _path = Path.Combine(Path.GetTempPath(), "idem-bench-" + Guid.NewGuid().ToString("N") + ".db");
            DataSource = SqliteFactory.Instance.CreateDataSource(new SqliteConnectionStringBuilder { DataSource = _path }.ToString());
            Execute("PRAGMA journal_mode = WAL;");
        }
        else
        {
            var connectionString = Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES")
                ?? throw new InvalidOperationException("Set IDEM_TEST_POSTGRES (`. artifacts/test-services.env`) to run the PostgreSQL benchmarks.");
            Schema = "idem_bench_" + Guid.NewGuid().ToString("N")[..12];
            DataSource = NpgsqlDataSource.Create(connectionString);
            Execute($"CREATE SCHEMA \"{Schema}\"");
        }

        Effects = Table("effects");
        Execute($"CREATE TABLE {Effects} (consumer text NOT NULL, message_id text NOT NULL, amount integer NOT NULL)");
    }

    public MessagingDatabaseKind Kind { get; }

    public DbDataSource DataSource { get; }

    public string Schema { get; } = "public";

    /// <summary>The handler's business table.</summary>
    public string Effects { get; }

    public string Table(string name) => Kind == MessagingDatabaseKind.Sqlite ? $"\"{name}\"" : $"\"{Schema}\".\"{name}\"";

    public IIdempotentMessagingBuilder Use(IIdempotentMessagingBuilder builder)
        => Kind == MessagingDatabaseKind.Sqlite ? builder.UseSqlite(DataSource) : builder.UsePostgres(DataSource);

    public void Configure(MessagingOptions options) => options.Schema = Schema;

    public void Execute(string sql)
    {
        using var connection = DataSource.OpenConnection();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    public async ValueTask DisposeAsync()
    {
        if (Kind == MessagingDatabaseKind.Postgres)
        {
            Execute($"DROP SCHEMA IF EXISTS \"{Schema}\" CASCADE");
        }

        await DataSource.DisposeAsync();
        if (_path is not null)
        {
            SqliteConnection.ClearAllPools();
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(_path + suffix);
            }
        }
    }
}
