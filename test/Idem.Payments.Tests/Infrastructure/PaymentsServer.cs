using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// The real service on Kestrel (127.0.0.1, a free port) over a SQLite file of its own, reached with a real HttpClient.
/// </summary>
public sealed class PaymentsServer : IAsyncLifetime
{
    private WebApplication? _app;

    public string DatabasePath { get; init; } = NewDatabasePath();

    /// <summary>False to keep the file for another server (a restart).</summary>
    public bool DeleteDatabaseOnDispose { get; init; } = true;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    internal LedgerProbe Probe => new(DatabasePath);

    public static string NewDatabasePath()
    {
        var directory = Path.Combine(Path.GetTempPath(), "idem-payments-tests");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, Guid.NewGuid().ToString("N") + ".db");
    }

    public static WebApplication BuildApp(string databasePath) => PaymentsApp.Build(
    [
        "--urls", "http://127.0.0.1:0",
        "--ConnectionStrings:Payments=Data Source=" + databasePath,
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:Microsoft.AspNetCore=Error",
    ]);

    public static Uri AddressOf(WebApplication app)
        => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

    public static void DeleteDatabase(string path)
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            try
            {
                File.Delete(path + suffix);
            }
            catch (IOException)
            {
            }
        }
    }

    public async Task InitializeAsync()
    {
        _app = BuildApp(DatabasePath);
        await _app.StartAsync();
        BaseAddress = AddressOf(_app);
        Http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    /// <summary>A client for a tenant of its own (a fresh random API key).</summary>
    public TenantClient NewTenant() => new(Http, "sk_test_" + Guid.NewGuid().ToString("N"));

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        if (DeleteDatabaseOnDispose)
        {
            DeleteDatabase(DatabasePath);
        }
    }
}

/// <summary>One server for all tests in the collection: tests use tenants of their own, so they cannot see each other.</summary>
[CollectionDefinition(Name)]
public sealed class PaymentsServerCollection : ICollectionFixture<PaymentsServer>
{
    public const string Name = "Payments server";
}
