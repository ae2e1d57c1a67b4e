using Npgsql;

namespace Idem.Postgres.Tests;

/// <summary>
/// The real PostgreSQL these tests run against, named by <c>IDEM_TEST_POSTGRES</c> (./test.sh provisions one and sets it).
/// Missing or unreachable, every test that needs it fails with a message that says so: it never skips.
/// </summary>
internal static class PostgresServer
{
    public const string Variable = "IDEM_TEST_POSTGRES";

    /// <summary>Trait marking tests that talk to the real server, so they can be selected or left out.</summary>
    public const string Category = "PostgreSQL";

    public static string ConnectionString
        => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException(
                $"{Variable} is not set. These tests need a real PostgreSQL: run ./test.sh (which provisions one), or " +
                $"`. artifacts/test-services.env`, or export {Variable}=\"Host=…;Username=…;Password=…;Database=…\".");

    /// <summary>A connection string with the given pool size and application name (visible in pg_stat_activity).</summary>
    public static string ConnectionStringFor(int maxPoolSize, string applicationName, Action<NpgsqlConnectionStringBuilder>? change = null)
    {
        var builder = new NpgsqlConnectionStringBuilder(ConnectionString)
        {
            MaxPoolSize = maxPoolSize,
            ApplicationName = applicationName,

            // Waiting for a pooled connection counts against this; racers queue for a few connections.
            Timeout = 60,
        };
        change?.Invoke(builder);
        return builder.ConnectionString;
    }

    /// <summary>Opens a connection from <paramref name="dataSource"/>, turning "cannot reach the server" into a clear failure.</summary>
    public static async Task<NpgsqlConnection> OpenAsync(NpgsqlDataSource dataSource)
    {
        try
        {
            return await dataSource.OpenConnectionAsync();
        }
        catch (Exception ex) when (ex is NpgsqlException { SqlState: null } or System.Net.Sockets.SocketException or TimeoutException)
        {
            var builder = new NpgsqlConnectionStringBuilder(dataSource.ConnectionString);
            throw new InvalidOperationException(
                $"PostgreSQL at {builder.Host}:{builder.Port} (from {Variable}) is unreachable: {ex.Message}. Start it with eng/provision.sh or ./test.sh.",
                ex);
        }
    }
}
