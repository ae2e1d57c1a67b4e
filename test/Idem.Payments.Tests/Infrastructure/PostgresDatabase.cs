using Npgsql;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// A database of its own on the test PostgreSQL server (named by <c>IDEM_TEST_POSTGRES</c>; ./test.sh provisions one),
/// created for one fixture and dropped with everything in it afterwards, so parallel runs never see each other's rows.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    public const string Variable = "IDEM_TEST_POSTGRES";

    private readonly string _server;

    private PostgresDatabase(string server, string name)
    {
        _server = server;
        Name = name;
    }

    public string Name { get; }

    /// <summary>The server the tests use, from <c>IDEM_TEST_POSTGRES</c>. Missing, every test that needs it fails saying so; it never skips.</summary>
    public static string ServerConnectionString
        => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set. The PostgreSQL variants of the payments tests need a real server: run ./test.sh (which provisions one), " +
                $"or `. artifacts/test-services.env` after `bash eng/provision.sh`, or export {Variable}=\"Host=…;Username=…;Password=…;Database=…\".");

    /// <summary>Creates an empty database on <paramref name="serverConnectionString"/> (default: the test server).</summary>
    public static async Task<PostgresDatabase> CreateAsync(string? serverConnectionString = null)
    {
        var server = serverConnectionString ?? ServerConnectionString;
        var name = "idem_pay_" + Guid.NewGuid().ToString("N")[..16];
        await AdminAsync(server, $"CREATE DATABASE \"{name}\"");
        return new PostgresDatabase(server, name);
    }

    /// <summary>A connection string to this database; a node of the service would use one like it.</summary>
    public string ConnectionString(int maxPoolSize = 10, string applicationName = "idem-payments-tests")
        => new NpgsqlConnectionStringBuilder(_server)
        {
            Database = Name,
            MaxPoolSize = maxPoolSize,
            ApplicationName = applicationName,

            // Waiting for a pooled connection counts against this: under a storm requests queue for a few connections.
            Timeout = 30,
        }.ConnectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();

        // FORCE: a killed node's sessions, or a pool not yet closed, must not keep the database alive.
        await AdminAsync(_server, $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)");
    }

    private static async Task AdminAsync(string server, string sql)
    {
        var builder = new NpgsqlConnectionStringBuilder(server) { Pooling = false };
        try
        {
            await using var connection = new NpgsqlConnection(builder.ConnectionString);
            await connection.OpenAsync();
            await using var command = new NpgsqlCommand(sql, connection);
            await command.ExecuteNonQueryAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException { SqlState: null } or System.Net.Sockets.SocketException or TimeoutException)
        {
            throw new InvalidOperationException(
                $"PostgreSQL at {builder.Host}:{builder.Port} (from {Variable}) is unreachable: {ex.Message}. Start it with eng/provision.sh or ./test.sh.", ex);
        }
    }
}
