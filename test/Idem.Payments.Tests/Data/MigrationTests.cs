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
