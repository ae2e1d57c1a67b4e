using System.Data.Common;
using Idem.Messaging;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Idem.EntityFrameworkCore.Tests.Messaging;

/// <summary>The context, the store, the outbox and the inbox on one SQLite file.</summary>
public sealed class MessagingOnSqlite : MessagingTests, IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "idem-ef-messaging-" + Guid.NewGuid().ToString("N") + ".db");

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path }.ToString();

    protected override void UseDatabase(DbContextOptionsBuilder options) => options.UseSqlite(ConnectionString);

    protected override void AddStore(IIdempotencyBuilder idempotency) => idempotency.AddSqliteStore(ConnectionString);

    protected override void UseMessagingDatabase(IIdempotentMessagingBuilder messaging) => messaging.UseSqlite(SqliteFactory.Instance.CreateDataSource(ConnectionString));

    protected override Task CreateTablesAsync(ShopDb db) => db.Database.EnsureCreatedAsync();

    protected override string Table(string name) => "\"" + name + "\"";

    protected override DbParameter Parameter(string name, object value) => new SqliteParameter(name, value);

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }
}

/// <summary>The context, the store, the outbox and the inbox in one PostgreSQL schema of this run (IDEM_TEST_POSTGRES).</summary>
public sealed class MessagingOnPostgres : MessagingTests, IDisposable
{
    private readonly NpgsqlDataSource _messagingSource = NpgsqlDataSource.Create(ConnectionString);

    private static string ConnectionString
        => Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES") is { Length: > 0 } value
            ? new NpgsqlConnectionStringBuilder(value) { MaxPoolSize = 10 }.ConnectionString
            : throw new InvalidOperationException("IDEM_TEST_POSTGRES is not set. These tests need a real PostgreSQL: run ./test.sh, which provisions one.");

    protected override void UseDatabase(DbContextOptionsBuilder options) => options.UseNpgsql(ConnectionString);

    protected override void AddStore(IIdempotencyBuilder idempotency) => idempotency.AddPostgresStore(ConnectionString, o => o.Schema = ShopDb.PostgresSchema);

    protected override void UseMessagingDatabase(IIdempotentMessagingBuilder messaging) => messaging.UsePostgres(_messagingSource);

    protected override void ConfigureMessaging(MessagingOptions options) => options.Schema = ShopDb.PostgresSchema;

    protected override Task CreateTablesAsync(ShopDb db) => OnPostgres.CreateOrdersTableAsync(db);

    protected override string Table(string name) => "\"" + ShopDb.PostgresSchema + "\".\"" + name + "\"";

    protected override DbParameter Parameter(string name, object value) => new NpgsqlParameter(name, value);

    public void Dispose() => _messagingSource.Dispose();
}
