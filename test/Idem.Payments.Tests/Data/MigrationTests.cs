using Idem.Payments.Data;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using Xunit;

namespace Idem.Payments.Tests.Data;

public sealed class MigrationTests
{
    [Fact]
    public async Task Start_TwoInstancesAtOnceOnOneNewFile_BothServeAndMigrationsApplyOnce()
    {
        var path = SqlitePaymentsServer.NewDatabasePath();
        try
        {
            await TwoNodesAtOnceAsync(SqlitePaymentsServer.Arguments(path), LedgerProbe.Sqlite(path), SqliteSchema.Migrations.Count);
        }
        finally
        {
            SqlitePaymentsServer.DeleteDatabase(path);
        }
    }

    [Fact]
    public async Task Start_TwoNodesAtOnceOnOneNewPostgresDatabase_BothServeAndMigrationsApplyOnce()
    {
        await using var database = await PostgresDatabase.CreateAsync();

        await TwoNodesAtOnceAsync(PostgresPaymentsServer.Arguments(database.ConnectionString(4)), LedgerProbe.Postgres(database.ConnectionString(2)), PostgresSchema.Migrations.Count);
    }

    [Fact]
    public async Task Migrate_EightPostgresNodesAtOnceOnANewDatabase_EachMigrationAppliedOnce()
    {
        // Without the advisory lock, racing CREATE TABLE IF NOT EXISTS statements fail on the catalog's unique indexes
        // and two nodes may both apply a migration; with it, exactly one node applies each and the rest find it done.
        const int Nodes = 8;
        await using var database = await PostgresDatabase.CreateAsync();
        var dataSources = Enumerable.Range(0, Nodes).Select(i => NpgsqlDataSource.Create(database.ConnectionString(1, $"migrate-{i}"))).ToArray();
        try
        {
            var nodes = dataSources.Select(source => new PostgresPaymentsDatabase(source, TimeProvider.System, NullLogger<PostgresPaymentsDatabase>.Instance)).ToArray();
            var ready = new Barrier(Nodes);
            var applied = await Task.WhenAll(nodes.Select(node => Task.Run(async () =>
            {
                ready.SignalAndWait();
                return await node.MigrateAsync(CancellationToken.None);
            })));

            Assert.Equal(PostgresSchema.Migrations.Count, applied.Sum());
            var probe = LedgerProbe.Postgres(database.ConnectionString(1));
            Assert.Equal(PostgresSchema.Migrations.Count, await probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
            Assert.Equal(PostgresSchema.Migrations.Count, await probe.CountAsync("SELECT COUNT(DISTINCT version) FROM schema_migrations"));

            // And again on a database that is up to date: nothing is applied.
            Assert.Equal(0, await nodes[0].MigrateAsync(CancellationToken.None));
        }
        finally
        {
            foreach (var source in dataSources)
            {
                await source.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Start_SqliteDatabaseAtVersion5WithRefunds_RebuildsItsTablesKeepingEveryRow()
    {
        // A file as version 5 left it, with a payment, a refund and their entries, written straight in SQL.
        var path = SqlitePaymentsServer.NewDatabasePath();
        var connectionString = $"Data Source={path};Foreign Keys=True;Pooling=False";
        const string Now = "2026-11-01 10:00:00+00:00";
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString))
        {
            await connection.OpenAsync();
            await ExecuteAsync(connection, SqliteSchema.CreateMigrationsTable);
            foreach (var migration in SqliteSchema.Migrations.Where(m => m.Version <= 5))
            {
                await ExecuteAsync(connection, migration.Sql);
                await ExecuteAsync(connection, $"INSERT INTO schema_migrations (version, name, applied_at) VALUES ({migration.Version}, '{migration.Name}', '{Now}')");
            }

            await ExecuteAsync(connection, $"""
                INSERT INTO accounts (id, tenant_id, kind, currency, balance, version, created_at) VALUES
                    ('acct_m', 't_m', 'customer', 'USD', 700, 3, '{Now}'), ('acct_f', 't_m', 'funding', 'USD', -700, 3, '{Now}');
                INSERT INTO payments (id, tenant_id, account_id, amount, currency, source, status, idempotency_key, charge_id, refunded, created_at, updated_at)
                    VALUES ('pay_m', 't_m', 'acct_m', 1000, 'USD', 'tok_visa', 'succeeded', 'k1', 'ch_m', 300, '{Now}', '{Now}');
                INSERT INTO refunds (id, tenant_id, payment_id, amount, currency, status, idempotency_key, processor_refund_id, created_at, updated_at)
                    VALUES ('re_m', 't_m', 'pay_m', 300, 'USD', 'succeeded', 'k2', 'pre_m', '{Now}', '{Now}');
                INSERT INTO ledger_entries (seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at) VALUES
                    (7, 'le_1', 't_m', 'acct_f', -1000, 'USD', -1000, 'payment', 'pay_m', '{Now}'),
                    (8, 'le_2', 't_m', 'acct_m', 1000, 'USD', 1000, 'payment', 'pay_m', '{Now}'),
                    (12, 'le_3', 't_m', 'acct_m', -300, 'USD', 700, 'refund', 're_m', '{Now}'),
                    (13, 'le_4', 't_m', 'acct_f', 300, 'USD', -700, 'refund', 're_m', '{Now}');
                """);
        }

        var before = await DumpAsync(connectionString);
        var server = new SqlitePaymentsServer { DatabasePath = path };
        try
        {
            await server.InitializeAsync();

            Assert.Equal(SqliteSchema.Migrations.Count, await server.Probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
            Assert.Equal(before, await DumpAsync(connectionString));
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
            await connection.OpenAsync();

            // The widened CHECKs take the new values and still refuse others; the sequence goes on after the kept rows.
            await ExecuteAsync(connection, $"""
                BEGIN;
                UPDATE refunds SET status = 'failed' WHERE id = 're_m';
                INSERT INTO ledger_entries (id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at)
                    VALUES ('le_5', 't_m', 'acct_m', 300, 'USD', 1000, 'refund_reversal', 're_m', '{Now}');
                """);
            Assert.Equal(14, await ScalarAsync(connection, "SELECT seq FROM ledger_entries WHERE id = 'le_5'"));
            await ExecuteAsync(connection, "ROLLBACK;");
            await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => ExecuteAsync(connection, "UPDATE refunds SET status = 'lost' WHERE id = 're_m'"));
            await Assert.ThrowsAsync<Microsoft.Data.Sqlite.SqliteException>(() => ExecuteAsync(connection,
                $"INSERT INTO ledger_entries (id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at) VALUES ('le_6', 't_m', 'acct_m', 1, 'USD', 1, 'gift', 'x', '{Now}')"));
            Assert.Equal(before, await DumpAsync(connectionString));
        }
        finally
        {
            await server.DisposeAsync();
        }

        static async Task<string> DumpAsync(string connectionString)
        {
            await using var connection = new Microsoft.Data.Sqlite.SqliteConnection(connectionString);
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT group_concat(row, '|') FROM (
                    SELECT id || ',' || payment_id || ',' || amount || ',' || status || ',' || idempotency_key || ',' || processor_refund_id || ',' || created_at AS row FROM refunds
                    UNION ALL SELECT seq || ',' || id || ',' || account_id || ',' || amount || ',' || balance_after || ',' || movement_type || ',' || movement_id FROM ledger_entries
                    UNION ALL SELECT id || ',' || refunded || ',' || status FROM payments)
                """;
            return (string)(await command.ExecuteScalarAsync())!;
        }
    }

    private static async Task ExecuteAsync(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private static async Task<long> ScalarAsync(Microsoft.Data.Sqlite.SqliteConnection connection, string sql)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)(await command.ExecuteScalarAsync())!;
    }

    [Fact]
    public async Task Start_ExistingDatabase_KeepsDataAndAppliesNothing()
    {
        var path = SqlitePaymentsServer.NewDatabasePath();
        var first = new SqlitePaymentsServer { DatabasePath = path, DeleteDatabaseOnDispose = false };
        string id;
        try
        {
            await first.InitializeAsync();
            var tenant = new TenantClient(first.Http, "sk_test_restart");
            id = await tenant.CreateAccountIdAsync();
            await tenant.DepositAsync(id, 42);
        }
        finally
        {
            await first.DisposeAsync();
        }

        var second = new SqlitePaymentsServer { DatabasePath = path };
        try
        {
            await second.InitializeAsync();
            var tenant = new TenantClient(second.Http, "sk_test_restart");
            Assert.Equal(42, await tenant.BalanceAsync(id));
            Assert.Equal(SqliteSchema.Migrations.Count, await second.Probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
        }
        finally
        {
            await second.DisposeAsync();
        }
    }

    [Fact]
    public async Task Start_ExistingPostgresDatabase_KeepsDataAndAppliesNothing()
    {
        await using var database = await PostgresDatabase.CreateAsync();
        var arguments = PostgresPaymentsServer.Arguments(database.ConnectionString(4));
        string id;
        await using (var first = PaymentsServer.BuildApp(arguments))
        {
            await first.StartAsync();
            using var http = PaymentsServer.NewHttpClient(PaymentsServer.AddressOf(first));
            var tenant = new TenantClient(http, "sk_test_restart");
            id = await tenant.CreateAccountIdAsync();
            await tenant.DepositAsync(id, 42);
            await first.StopAsync();
        }

        var probe = LedgerProbe.Postgres(database.ConnectionString(1));
        var appliedAt = await probe.CountAsync("SELECT CAST(EXTRACT(EPOCH FROM MAX(applied_at)) * 1000 AS bigint) FROM schema_migrations");
        await using var second = PaymentsServer.BuildApp(arguments);
        await second.StartAsync();
        using (var http = PaymentsServer.NewHttpClient(PaymentsServer.AddressOf(second)))
        {
            Assert.Equal(42, await new TenantClient(http, "sk_test_restart").BalanceAsync(id));
        }

        Assert.Equal(PostgresSchema.Migrations.Count, await probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
        Assert.Equal(appliedAt, await probe.CountAsync("SELECT CAST(EXTRACT(EPOCH FROM MAX(applied_at)) * 1000 AS bigint) FROM schema_migrations"));
        await second.StopAsync();
    }

    private static async Task TwoNodesAtOnceAsync(string[] arguments, LedgerProbe probe, int migrations)
    {
        WebApplication[] apps = [PaymentsServer.BuildApp(arguments), PaymentsServer.BuildApp(arguments)];
        try
        {
            await Task.WhenAll(apps.Select(app => app.StartAsync()));

            foreach (var app in apps)
            {
                using var http = PaymentsServer.NewHttpClient(PaymentsServer.AddressOf(app));
                var tenant = new TenantClient(http, "sk_test_migrations");
                Assert.Equal(0, await tenant.BalanceAsync(await tenant.CreateAccountIdAsync()));
            }

            Assert.Equal(migrations, await probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
            Assert.Equal(2, await probe.CountAsync("SELECT COUNT(*) FROM accounts"));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }
}
