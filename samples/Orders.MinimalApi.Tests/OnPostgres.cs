using Npgsql;

namespace Samples.Tests;

/// <summary>
/// The minimal API sample on a PostgreSQL database of its own, created on the server IDEM_TEST_POSTGRES names and
/// dropped after. Without IDEM_TEST_POSTGRES the tests fail: ./test.sh provisions the server.
/// </summary>
public sealed class OnPostgres : ExactlyOnceTests
{
    private readonly string _database = "idem_sample_" + Guid.NewGuid().ToString("N")[..12];

    internal static string Server
        => Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES") is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException("IDEM_TEST_POSTGRES is not set. These tests need a real PostgreSQL: run ./test.sh, which provisions one.");

    protected override async Task<string> CreateDatabaseAsync()
    {
        await ExecuteAsync($"CREATE DATABASE {_database}");
        return new NpgsqlConnectionStringBuilder(Server) { Database = _database, MaxPoolSize = 20 }.ConnectionString;
    }

    protected override async Task DropDatabaseAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await ExecuteAsync($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
    }

    // The database name is this run's own (letters, digits and underscores), not input.
    internal static async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(Server) { Pooling = false }.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }
}
