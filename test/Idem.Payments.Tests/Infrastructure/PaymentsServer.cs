using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// The real service on Kestrel (127.0.0.1, a free port) over a database of its own, reached with a real HttpClient.
/// One subclass per database provider; the API tests run once on each.
/// </summary>
public abstract class PaymentsServer : IAsyncLifetime
{
    private WebApplication? _app;

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The card processor simulator this server hosts beside itself (its own port and file).</summary>
    public Uri ProcessorAddress { get; private set; } = null!;

    internal abstract LedgerProbe Probe { get; }

    /// <summary>A read-write connection to the database, to break it on purpose (the audit tests); use on a fixture of its own.</summary>
    internal abstract LedgerProbe Writer { get; }

    /// <summary>Arguments a fixture adds to the service's own (e.g. a fast completer).</summary>
    protected virtual string[] ExtraArguments() => [];

    /// <summary>The service's own arguments, in-process; <paramref name="databaseArguments"/> choose the database.</summary>
    public static WebApplication BuildApp(params string[] databaseArguments) => PaymentsApp.Build(
    [
        "--urls", "http://127.0.0.1:0",
        "--Logging:LogLevel:Default=Warning",
        "--Logging:LogLevel:Microsoft.AspNetCore=Error",
        .. ProcessorArguments(),
        .. databaseArguments,
    ]);

    /// <summary>
    /// A processor simulator of its own (its own file), with faults shortened for tests: <c>tok_timeout</c> answers its
    /// first attempt after 5 s, past the service's 3 s deadline (2 s per attempt: room for a loaded machine);
    /// <c>tok_unavailable</c> is down for 5 s per key, longer than the deadline.
    /// </summary>
    public static string[] ProcessorArguments() =>
    [
        "--Processor:ConnectionString=Data Source=" + SqlitePaymentsServer.NewDatabasePath(),
        "--Processor:TimeoutDelay=00:00:05",
        "--Processor:UnavailableFor=00:00:05",
        "--Payments:ProcessorDeadline=00:00:03",
        "--Payments:ProcessorAttemptTimeout=00:00:02",
    ];

    /// <summary>Group commit for the ledger's movements, whatever the database's default.</summary>
    public const string GroupCommitOn = "--Payments:GroupCommit=true";

    /// <summary>A batch waits up to 50 ms for one more request, so requests sent together share commits on any machine.</summary>
    public const string GroupCommitWait = "--Idempotency:GroupCommit:MaxWait=00:00:00.050";

    /// <summary>The completer's settings for a fixture that watches it work.</summary>
    public static readonly string[] FastCompleterArguments = ["--Payments:AbandonedAfter=00:00:01", "--Payments:CompleterInterval=00:00:00.200"];

    /// <summary>The completer's settings for a fixture whose tests run its passes themselves: it never ticks on its own.</summary>
    public static readonly string[] IdleCompleterArguments = ["--Payments:AbandonedAfter=00:00:01", "--Payments:CompleterInterval=01:00:00"];

    public static Uri AddressOf(WebApplication app)
        => new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());

    public static HttpClient NewHttpClient(Uri baseAddress)
        => new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) }) { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(60) };

    /// <summary>A service of the running app, for tests that drive a part of it directly (e.g. one completer pass).</summary>
    internal T GetRequiredService<T>()
        where T : notnull
        => (_app ?? throw new InvalidOperationException("The server has not started.")).Services.GetRequiredService<T>();

    /// <summary>A client for a tenant of its own (a fresh random API key).</summary>
    public TenantClient NewTenant() => new(Http, "sk_test_" + Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        await CreateDatabaseAsync();
        _app = BuildApp([.. DatabaseArguments(), .. ExtraArguments()]);
        await _app.StartAsync();
        BaseAddress = AddressOf(_app);
        ProcessorAddress = _app.Services.GetRequiredService<Idem.Payments.Processor.ProcessorHost>().BaseAddress;
        Http = NewHttpClient(BaseAddress);
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        await DeleteDatabaseAsync();
    }

    protected abstract Task CreateDatabaseAsync();

    protected abstract string[] DatabaseArguments();

    protected abstract Task DeleteDatabaseAsync();
}

/// <summary>The service on a SQLite file of its own (the default provider).</summary>
public class SqlitePaymentsServer : PaymentsServer
{
    public const string Collection = "Payments server on SQLite";

    public string DatabasePath { get; init; } = NewDatabasePath();

    /// <summary>False to keep the file for another server (a restart).</summary>
    public bool DeleteDatabaseOnDispose { get; init; } = true;

    internal override LedgerProbe Probe => LedgerProbe.Sqlite(DatabasePath);

    internal override LedgerProbe Writer => LedgerProbe.Sqlite(DatabasePath, readOnly: false);

    public static string NewDatabasePath()
    {
        var directory = Path.Combine(Path.GetTempPath(), "idem-payments-tests");
        Directory.CreateDirectory(directory);
        return Path.Combine(directory, Guid.NewGuid().ToString("N") + ".db");
    }

    public static string[] Arguments(string databasePath) => ["--ConnectionStrings:Payments=Data Source=" + databasePath];

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

    protected override Task CreateDatabaseAsync() => Task.CompletedTask;

    protected override string[] DatabaseArguments() => Arguments(DatabasePath);

    protected override Task DeleteDatabaseAsync()
    {
        SqliteConnection.ClearAllPools();
        if (DeleteDatabaseOnDispose)
        {
            DeleteDatabase(DatabasePath);
        }

        return Task.CompletedTask;
    }
}

/// <summary>The service on a fresh PostgreSQL database of its own, dropped afterwards.</summary>
public class PostgresPaymentsServer : PaymentsServer
{
    public const string Collection = "Payments server on PostgreSQL";

    private PostgresDatabase? _database;

    public PostgresDatabase Database => _database ?? throw new InvalidOperationException("The server has not started.");

    internal override LedgerProbe Probe => LedgerProbe.Postgres(Database.ConnectionString(4, "idem-payments-probe"));

    internal override LedgerProbe Writer => Probe;

    public static string[] Arguments(string connectionString) => ["--Payments:Database=PostgreSql", "--ConnectionStrings:Payments=" + connectionString];

    protected override async Task CreateDatabaseAsync() => _database = await PostgresDatabase.CreateAsync();

    // Twenty connections: enough for the concurrency tests, few enough that several fixtures share the server's 100.
    protected override string[] DatabaseArguments() => Arguments(Database.ConnectionString(20, "idem-payments"));

    protected override async Task DeleteDatabaseAsync()
    {
        if (_database is not null)
        {
            await _database.DisposeAsync();
        }
    }
}

/// <summary>One SQLite server for all tests in the collection: tests use tenants of their own, so they cannot see each other.</summary>
[CollectionDefinition(SqlitePaymentsServer.Collection)]
public sealed class SqlitePaymentsServerCollection : ICollectionFixture<SqlitePaymentsServer>;

/// <summary>One PostgreSQL server for all tests in the collection.</summary>
[CollectionDefinition(PostgresPaymentsServer.Collection)]
public sealed class PostgresPaymentsServerCollection : ICollectionFixture<PostgresPaymentsServer>;

/// <summary>
/// A server whose completer takes over payments abandoned for 1 s, looking every 200 ms, so a test can watch it settle
/// a payment no client retries.
/// </summary>
public sealed class SqliteCompleterServer : SqlitePaymentsServer
{
    protected override string[] ExtraArguments() => PaymentsServer.FastCompleterArguments;
}

/// <inheritdoc cref="SqliteCompleterServer"/>
public sealed class PostgresCompleterServer : PostgresPaymentsServer
{
    protected override string[] ExtraArguments() => PaymentsServer.FastCompleterArguments;
}

/// <summary>
/// PostgreSQL with the ledger's movements in group commit, which is off there by default: the tests that show it share
/// commits, and the several-node and chaos runs, use it.
/// </summary>
public sealed class PostgresGroupCommitServer : PostgresPaymentsServer
{
    protected override string[] ExtraArguments() => [PaymentsServer.GroupCommitOn, PaymentsServer.GroupCommitWait];
}

/// <summary>
/// SQLite (group commit on by default) with batches that wait a moment for the next request: the tests that show requests
/// share commits do not depend on how fast this machine turns a batch around.
/// </summary>
public sealed class SqliteGroupCommitServer : SqlitePaymentsServer
{
    protected override string[] ExtraArguments() => [PaymentsServer.GroupCommitWait];
}

/// <summary>A server whose completer never runs by itself, so a test can run its passes, several at once, as several nodes would.</summary>
public sealed class SqliteIdleCompleterServer : SqlitePaymentsServer
{
    protected override string[] ExtraArguments() => PaymentsServer.IdleCompleterArguments;
}

/// <inheritdoc cref="SqliteIdleCompleterServer"/>
public sealed class PostgresIdleCompleterServer : PostgresPaymentsServer
{
    protected override string[] ExtraArguments() => PaymentsServer.IdleCompleterArguments;
}

/// <summary>SQLite with transfers served without Idem, the load generator's baseline: what that benchmark switch does.</summary>
public sealed class SqliteWithoutIdempotencyServer : SqlitePaymentsServer
{
    protected override string[] ExtraArguments() => ["--Benchmark:TransfersWithoutIdempotency=true"];
}
