using Idem.Payments;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;

namespace Idem.PaymentsLoad;

/// <summary>
/// The payments service under load: started in this process on Kestrel (127.0.0.1, a free port) over a database of the
/// run's own, SQLite or PostgreSQL, deleted afterwards; or a service already running elsewhere. Logs are kept to errors, so
/// the console costs the service nothing.
/// </summary>
internal sealed class PaymentsTarget : IAsyncDisposable
{
    private readonly WebApplication? _app;
    private readonly ScratchDatabase? _database;
    private readonly string? _directory;

    private PaymentsTarget(TargetKind kind, Uri baseAddress, WebApplication? app, ScratchDatabase? database, string? directory, PostgresProbe? postgres, string? sqlitePath)
    {
        Kind = kind;
        BaseAddress = baseAddress;
        _app = app;
        _database = database;
        _directory = directory;
        Postgres = postgres;
        SqlitePath = sqlitePath;
    }

    public TargetKind Kind { get; }

    public Uri BaseAddress { get; }

    /// <summary>The service's PostgreSQL database, seen from beside it; null on SQLite, or a service elsewhere without --postgres.</summary>
    public PostgresProbe? Postgres { get; }

    private string? SqlitePath { get; }

    public static string Name(TargetKind kind) => kind switch
    {
        TargetKind.Sqlite => "SQLite",
        TargetKind.Postgres => "PostgreSQL",
        _ => "service at --url",
    };

    public static async Task<PaymentsTarget> StartAsync(TargetKind kind, LoadOptions options, CancellationToken cancellationToken)
    {
        if (kind == TargetKind.Url)
        {
            return new PaymentsTarget(kind, options.Url!, null, null, null, options.Postgres is null ? null : new PostgresProbe(options.Postgres, null), null);
        }

        // The card processor simulator the service hosts beside itself keeps a SQLite file of its own; with SQLite, so
        // does the ledger.
        var directory = Path.Combine(Path.GetTempPath(), "idem-payments-load", Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        ScratchDatabase? database = null;
        PostgresProbe? probe = null;
        WebApplication? app = null;
        try
        {
            string[] databaseArguments;
            string? sqlitePath = null;
            if (kind == TargetKind.Postgres)
            {
                database = await ScratchDatabase.CreateAsync(options.Postgres!, "idem_load_", cancellationToken);

                // Room for every client's request plus the service's own background work (relay, consumer, completer, expirer).
                databaseArguments = ["--Payments:Database=PostgreSql", "--ConnectionStrings:Payments=" + database.ConnectionString(options.Connections + 10, "idem-payments")];
                probe = new PostgresProbe(database.ConnectionString(2, PostgresProbe.PoolName), options.Postgres);
            }
            else
            {
                sqlitePath = Path.Combine(directory, "payments.db");
                databaseArguments = ["--ConnectionStrings:Payments=Data Source=" + sqlitePath];
            }

            app = PaymentsApp.Build(
            [
                "--urls", "http://127.0.0.1:0",
                "--Logging:LogLevel:Default=Error",
                "--Processor:ConnectionString=Data Source=" + Path.Combine(directory, "processor.db"),
                .. databaseArguments,
                .. options.ServiceArguments,
            ]);
            await app.StartAsync(cancellationToken);
            var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
            return new PaymentsTarget(kind, address, app, database, directory, probe, sqlitePath);
        }
        catch
        {
            await DisposeAsync(app, probe, database, directory);
            throw;
        }
    }

    /// <summary>The ids of the tenant's transfer rows, read from the database; null when the database is out of reach.</summary>
    public async Task<List<string>?> TransferIdsAsync(string tenantId, CancellationToken cancellationToken)
    {
        if (Postgres is not null)
        {
            return await Postgres.TransferIdsAsync(tenantId, cancellationToken);
        }

        if (SqlitePath is null)
        {
            return null;
        }

        await using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = SqlitePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString());
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM transfers WHERE tenant_id = $tenant";
        command.Parameters.AddWithValue("$tenant", tenantId);
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    public ValueTask DisposeAsync() => DisposeAsync(_app, Postgres, _database, _directory);

    private static async ValueTask DisposeAsync(WebApplication? app, PostgresProbe? probe, ScratchDatabase? database, string? directory)
    {
        if (app is not null)
        {
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }

        if (probe is not null)
        {
            await probe.DisposeAsync();
        }

        if (database is not null)
        {
            await database.DisposeAsync();
        }

        if (directory is not null)
        {
            SqliteConnection.ClearAllPools();
            try
            {
                Directory.Delete(directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
