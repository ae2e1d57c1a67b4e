using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Idem.EntityFrameworkCore.Tests.Model;

/// <summary>The model's tables in one SQLite file; the store's own table, for comparison, in another.</summary>
public sealed class KeysTableOnSqlite : KeysTableTests
{
    private readonly string _modelPath = Path.Combine(Path.GetTempPath(), "idem-efkeys-" + Guid.NewGuid().ToString("N") + ".db");
    private readonly string _storePath = Path.Combine(Path.GetTempPath(), "idem-storekeys-" + Guid.NewGuid().ToString("N") + ".db");

    private static string ConnectionString(string path) => new SqliteConnectionStringBuilder { DataSource = path }.ToString();

    protected override void UseDatabase(DbContextOptionsBuilder options) => options.UseSqlite(ConnectionString(_modelPath));

    protected override void AddStoreOnTheModelsTable(IIdempotencyBuilder idempotency)
        => idempotency.AddSqliteStore(ConnectionString(_modelPath), o => o.CreateSchema = false);

    protected override async Task<IReadOnlyList<string>> DescribeStoreMadeTableAsync()
    {
        var services = new ServiceCollection();
        services.AddIdempotency().AddSqliteStore(ConnectionString(_storePath));
        await using (var provider = services.BuildServiceProvider())
        {
            await provider.GetRequiredService<Idem.Storage.IIdempotencyStore>().GetAsync("nothing");
        }

        return await DescribeAsync(_storePath);
    }

    protected override Task<IReadOnlyList<string>> DescribeModelMadeTableAsync() => DescribeAsync(_modelPath);

    [Fact]
    public async Task EnsureCreated_CreatesTheKeysTable()
    {
        await using (var scope = Services.CreateAsyncScope())
        {
            Assert.True(await scope.ServiceProvider.GetRequiredService<KeysDb>().Database.EnsureCreatedAsync());
        }

        Assert.Equal(await DescribeStoreMadeTableAsync(), await DescribeModelMadeTableAsync());
    }

    protected override Task DropAsync()
    {
        SqliteConnection.ClearAllPools();
        foreach (var path in new[] { _modelPath, _storePath })
        {
            foreach (var suffix in new[] { "", "-wal", "-shm" })
            {
                File.Delete(path + suffix);
            }
        }

        return Task.CompletedTask;
    }

    // The columns (position, name, declared type, NOT NULL, default, key) and the indexes (name, unique, how made, partial,
    // columns), as SQLite's catalog has them.
    private static async Task<IReadOnlyList<string>> DescribeAsync(string path)
    {
        await using var connection = new SqliteConnection(ConnectionString(path));
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT 'column ' || cid || ' ' || name || ' ' || type || ' notnull=' || "notnull" || ' default=' || coalesce(dflt_value, '') || ' pk=' || pk
            FROM pragma_table_info('idem_keys')
            UNION ALL
            SELECT 'index ' || il.name || ' unique=' || il."unique" || ' origin=' || il.origin || ' partial=' || il.partial || ' on '
                   || (SELECT group_concat(ii.name, ',') FROM pragma_index_info(il.name) AS ii)
            FROM pragma_index_list('idem_keys') AS il
            ORDER BY 1;
            """;
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}

/// <summary>
/// The model's tables in a schema of this run (IDEM_TEST_POSTGRES); the store's own table, for comparison, in another.
/// </summary>
public sealed class KeysTableOnPostgres : KeysTableTests
{
    private static readonly string StoreSchema = "idem_storekeys_" + Guid.NewGuid().ToString("N")[..10];

    private static string ConnectionString
        => Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES") is { Length: > 0 } value
            ? new NpgsqlConnectionStringBuilder(value) { MaxPoolSize = 5 }.ConnectionString
            : throw new InvalidOperationException("IDEM_TEST_POSTGRES is not set. These tests need a real PostgreSQL: run ./test.sh, which provisions one.");

    protected override void UseDatabase(DbContextOptionsBuilder options) => options.UseNpgsql(ConnectionString);

    protected override void AddStoreOnTheModelsTable(IIdempotencyBuilder idempotency)
        => idempotency.AddPostgresStore(ConnectionString, o =>
        {
            o.Schema = KeysDb.PostgresSchema;
            o.CreateSchema = false;
        });

    protected override async Task<IReadOnlyList<string>> DescribeStoreMadeTableAsync()
    {
        var services = new ServiceCollection();
        services.AddIdempotency().AddPostgresStore(ConnectionString, o => o.Schema = StoreSchema);
        await using (var provider = services.BuildServiceProvider())
        {
            await provider.GetRequiredService<Idem.Storage.IIdempotencyStore>().GetAsync("nothing");
        }

        return await DescribeAsync(StoreSchema);
    }

    protected override Task<IReadOnlyList<string>> DescribeModelMadeTableAsync() => DescribeAsync(KeysDb.PostgresSchema);

    protected override async Task DropAsync()
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();

        // The schema names are this run's own (letters, digits and underscores), not input.
        await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{KeysDb.PostgresSchema}\" CASCADE; DROP SCHEMA IF EXISTS \"{StoreSchema}\" CASCADE;", connection);
        await command.ExecuteNonQueryAsync();
    }

    // The columns (position, name, type, nullability, default, collation), the constraints and the indexes, as
    // PostgreSQL's catalog has them, with the schema's name taken out.
    private static async Task<IReadOnlyList<string>> DescribeAsync(string schema)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT format('column %s %s %s nullable=%s default=%s collation=%s', ordinal_position, column_name, data_type, is_nullable,
                          coalesce(column_default, ''), coalesce(collation_name, ''))
            FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'idem_keys'
            UNION ALL
            SELECT format('constraint %s %s %s', conname, contype, pg_get_constraintdef(oid))
            FROM pg_catalog.pg_constraint WHERE conrelid = to_regclass(quote_ident($1) || '.idem_keys')
            UNION ALL
            SELECT format('index %s %s', indexname, replace(indexdef, quote_ident($1) || '.', ''))
            FROM pg_catalog.pg_indexes WHERE schemaname = $1 AND tablename = 'idem_keys'
            ORDER BY 1
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = schema });
        var lines = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            lines.Add(reader.GetString(0));
        }

        return lines;
    }
}
