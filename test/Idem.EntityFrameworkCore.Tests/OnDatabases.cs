using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Idem.EntityFrameworkCore.Tests;

/// <summary>The context and the store on one SQLite file.</summary>
public sealed class OnSqlite : ContextTests, IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "idem-ef-" + Guid.NewGuid().ToString("N") + ".db");

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path }.ToString();

    protected override void UseDatabase(DbContextOptionsBuilder options) => Use(options);

    protected override void AddStore(IIdempotencyBuilder idempotency) => Add(idempotency);

    internal void Use(DbContextOptionsBuilder options) => options.UseSqlite(ConnectionString);

    internal void Add(IIdempotencyBuilder idempotency) => idempotency.AddSqliteStore(ConnectionString);

    protected override Task CreateTablesAsync(ShopDb db) => db.Database.EnsureCreatedAsync();

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_path + suffix);
        }
    }
}

/// <summary>The context and the store on one PostgreSQL database (IDEM_TEST_POSTGRES), in a schema of this run.</summary>
public sealed class OnPostgres : ContextTests
{
    private static string ConnectionString
        => Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES") is { Length: > 0 } value
            ? new NpgsqlConnectionStringBuilder(value) { MaxPoolSize = 20 }.ConnectionString
            : throw new InvalidOperationException("IDEM_TEST_POSTGRES is not set. These tests need a real PostgreSQL: run ./test.sh, which provisions one.");

    protected override void UseDatabase(DbContextOptionsBuilder options) => Use(options);

    protected override void AddStore(IIdempotencyBuilder idempotency) => Add(idempotency);

    internal static void Use(DbContextOptionsBuilder options) => options.UseNpgsql(ConnectionString);

    internal static void Add(IIdempotencyBuilder idempotency) => idempotency.AddPostgresStore(ConnectionString, o => o.Schema = ShopDb.PostgresSchema);

    protected override Task CreateTablesAsync(ShopDb db) => CreateOrdersTableAsync(db);

    // Several test classes share the run's schema and run at once: concurrent CREATE … IF NOT EXISTS of one schema or table
    // can fail on the catalog's unique indexes, so the first class creates them, before any of their stores runs.
    private static readonly SemaphoreSlim Creating = new(1, 1);
    private static bool _created;

    internal static async Task CreateOrdersTableAsync(ShopDb db)
    {
        await Creating.WaitAsync();
        try
        {
            if (_created)
            {
                return;
            }

            // The schema name is this run's own (letters, digits and underscores), not input.
#pragma warning disable EF1003
            await db.Database.ExecuteSqlRawAsync(
                $"CREATE SCHEMA IF NOT EXISTS \"{ShopDb.PostgresSchema}\"; " +
                $"CREATE TABLE IF NOT EXISTS \"{ShopDb.PostgresSchema}\".orders (\"Id\" uuid PRIMARY KEY, \"Item\" text NOT NULL, \"Key\" text NULL);");
#pragma warning restore EF1003
            _created = true;
        }
        finally
        {
            Creating.Release();
        }
    }

    [Fact]
    public async Task ContextThatRetriesOnFailure_IsRefusedWithTheReason()
    {
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var builder = new DbContextOptionsBuilder<ShopDb>().UseNpgsql(ConnectionString, n => n.EnableRetryOnFailure());
        builder.UseIdempotency();
        var options = builder.Options;
        var operation = IdempotentOperation.Create("orders.retrying", NewKey()) with { Transactional = true };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await executor.RunAsync(operation, (_, _) =>
        {
            using var db = new ShopDb(options).JoinIdempotentTransaction();
            return ValueTask.FromResult(1);
        }));

        Assert.Contains("retries on failure", error.Message, StringComparison.Ordinal);
        Assert.Contains("EnableRetryOnFailure", error.Message, StringComparison.Ordinal);
    }
}
