using System.Data.Common;
using Idem.Messaging.Data;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Idem.Testing;
using Npgsql;

namespace Idem.Messaging.Tests.Infrastructure;

/// <summary>
/// A database of one test class's own (a SQLite file, or a PostgreSQL schema), dropped at the end. Each test takes fresh
/// tables in it through a prefix of its own, with a business table <c>{prefix}effects</c> beside the outbox and inbox.
/// </summary>
public abstract class TestDatabase : IAsyncLifetime
{
    private int _prefixes;

    public abstract DbDataSource DataSource { get; }

    /// <summary>The schema (PostgreSQL) the tables live in.</summary>
    public virtual string Schema => "public";

    /// <summary>A table prefix no other test of the class has used.</summary>
    public string NewPrefix() => $"t{Interlocked.Increment(ref _prefixes)}_";

    /// <summary>Points messaging at this database.</summary>
    public abstract IIdempotentMessagingBuilder Use(IIdempotentMessagingBuilder builder);

    internal abstract MessagingSql CreateSql(string prefix);

    public string Table(string prefix, string name) => this is PostgresTestDatabase ? $"\"{Schema}\".\"{prefix}{name}\"" : $"\"{prefix}{name}\"";

    public Task ExecuteAsync(string sql) => DataSource.ExecuteAsync(sql);

    public Task<long> CountAsync(string sql) => DataSource.CountAsync(sql);

    public async Task<List<object?[]>> RowsAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<object?[]>();
        while (await reader.ReadAsync())
        {
            var row = new object?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : reader.GetValue(i);
            }

            rows.Add(row);
        }

        return rows;
    }

    public abstract Task InitializeAsync();

    public abstract Task DisposeAsync();
}

public sealed class SqliteTestDatabase : TestDatabase
{
    private readonly SqliteTempFile _file = new("idem-messaging-tests");

    public override DbDataSource DataSource => _file.DataSource;

    public override IIdempotentMessagingBuilder Use(IIdempotentMessagingBuilder builder) => builder.UseSqlite(DataSource);

    internal override MessagingSql CreateSql(string prefix) => new SqliteMessagingSql(prefix);

    public override Task InitializeAsync() => Task.CompletedTask;

    public override async Task DisposeAsync() => await _file.DisposeAsync();
}

public sealed class PostgresTestDatabase : TestDatabase
{
    public const string Variable = "IDEM_TEST_POSTGRES";

    private readonly string _schema = "idem_msg_" + Guid.NewGuid().ToString("N")[..12];

    public PostgresTestDatabase()
    {
        var connectionString = Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set. These tests need a real PostgreSQL: run ./test.sh (which provisions one), or " +
                $"`. artifacts/test-services.env`.");
        DataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 32, ApplicationName = _schema, Timeout = 60 }.ConnectionString);
    }

    public override DbDataSource DataSource { get; }

    public override string Schema => _schema;

    public override IIdempotentMessagingBuilder Use(IIdempotentMessagingBuilder builder) => builder.UsePostgres(DataSource);

    internal override MessagingSql CreateSql(string prefix) => new PostgresMessagingSql(_schema, prefix);

    public override Task InitializeAsync() => ExecuteAsync($"CREATE SCHEMA \"{_schema}\"");

    public override async Task DisposeAsync()
    {
        await ExecuteAsync($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE");
        await DataSource.DisposeAsync();
    }
}
