using Npgsql;

namespace Idem.PaymentsLoad;

/// <summary>
/// A database of one run's own on the PostgreSQL server, created empty and dropped with everything in it afterwards, so
/// runs never see each other's rows and nothing is left behind on a shared server.
/// </summary>
internal sealed class ScratchDatabase : IAsyncDisposable
{
    private readonly string _server;

    private ScratchDatabase(string server, string name)
    {
        _server = server;
        Name = name;
    }

    public string Name { get; }

    public static async Task<ScratchDatabase> CreateAsync(string server, string prefix, CancellationToken cancellationToken)
    {
        var name = prefix + Guid.NewGuid().ToString("N")[..16];
        await AdminAsync(server, $"CREATE DATABASE \"{name}\"", cancellationToken);
        return new ScratchDatabase(server, name);
    }

    public string ConnectionString(int maxPoolSize, string applicationName)
        => new NpgsqlConnectionStringBuilder(_server)
        {
            Database = Name,
            MaxPoolSize = maxPoolSize,
            ApplicationName = applicationName,

            // Waiting for a pooled connection counts against this: under load requests queue for the pool.
            Timeout = 30,
        }.ConnectionString;

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();

        // FORCE: a pool not yet closed must not keep the database alive. Not cancellable: it must not be left behind.
        await AdminAsync(_server, $"DROP DATABASE IF EXISTS \"{Name}\" WITH (FORCE)", CancellationToken.None);
    }

    private static async Task AdminAsync(string server, string sql, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(server) { Pooling = false };
        await using var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
