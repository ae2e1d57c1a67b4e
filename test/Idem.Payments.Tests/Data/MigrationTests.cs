using Idem.Payments.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Xunit;

namespace Idem.Payments.Tests.Data;

public sealed class MigrationTests
{
    [Fact]
    public async Task Start_TwoInstancesAtOnceOnOneNewFile_BothServeAndMigrationsApplyOnce()
    {
        var path = PaymentsServer.NewDatabasePath();
        WebApplication[] apps = [PaymentsServer.BuildApp(path), PaymentsServer.BuildApp(path)];
        try
        {
            await Task.WhenAll(apps.Select(app => app.StartAsync()));

            foreach (var app in apps)
            {
                using var http = new HttpClient { BaseAddress = PaymentsServer.AddressOf(app) };
                var tenant = new TenantClient(http, "sk_test_migrations");
                Assert.Equal(0, await tenant.BalanceAsync(await tenant.CreateAccountIdAsync()));
            }

            var probe = new LedgerProbe(path);
            Assert.Equal(1, await probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
            Assert.Equal(2, await probe.CountAsync("SELECT COUNT(*) FROM accounts"));
        }
        finally
        {
            foreach (var app in apps)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }

            PaymentsServer.DeleteDatabase(path);
        }
    }

    [Fact]
    public async Task Start_ExistingDatabase_KeepsDataAndAppliesNothing()
    {
        var path = PaymentsServer.NewDatabasePath();
        var first = new PaymentsServer { DatabasePath = path, DeleteDatabaseOnDispose = false };
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

        var second = new PaymentsServer { DatabasePath = path };
        try
        {
            await second.InitializeAsync();
            var tenant = new TenantClient(second.Http, "sk_test_restart");
            Assert.Equal(42, await tenant.BalanceAsync(id));
            Assert.Equal(1, await second.Probe.CountAsync("SELECT COUNT(*) FROM schema_migrations"));
        }
        finally
        {
            await second.DisposeAsync();
        }
    }
}
