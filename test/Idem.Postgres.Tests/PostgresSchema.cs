using Idem.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Idem.Postgres.Tests;

/// <summary>
/// A schema of its own on the real server for one test class, dropped (with everything in it) at the end, so parallel
/// classes and repeated runs never see each other's rows. Each store a test makes gets a fresh table in it.
/// </summary>
public sealed class PostgresSchema : IAsyncLifetime
{
    private int _tables;

    public PostgresSchema()
    {
        Name = "idem_test_" + Guid.NewGuid().ToString("N")[..12];
        DataSource = NpgsqlDataSource.Create(PostgresServer.ConnectionStringFor(16, Name));
    }

    /// <summary>The schema's name (also the application name of <see cref="DataSource"/>'s connections).</summary>
    public string Name { get; }

    /// <summary>A data source (16 connections at most) the class's stores share.</summary>
    public NpgsqlDataSource DataSource { get; }

    /// <summary>A table name no other store in this schema has used.</summary>
    public string NewTableName() => $"keys_{Interlocked.Increment(ref _tables)}";

    /// <summary>A store on <paramref name="dataSource"/> (default: the shared one) with a fresh table, or the one named.</summary>
    internal PostgresIdempotencyStore CreateStore(NpgsqlDataSource? dataSource = null, Action<PostgresStoreOptions>? configure = null)
    {
        var options = new PostgresStoreOptions { Schema = Name, TableName = NewTableName() };
        configure?.Invoke(options);
        return new PostgresIdempotencyStore(dataSource ?? DataSource, ownsDataSource: false, options, NullLogger<PostgresIdempotencyStore>.Instance);
    }

    /// <summary>A data source of its own, as another node would have.</summary>
    public NpgsqlDataSource CreateDataSource(int maxPoolSize, string applicationName)
        => NpgsqlDataSource.Create(PostgresServer.ConnectionStringFor(maxPoolSize, applicationName));

    public async Task InitializeAsync()
    {
        await using var connection = await PostgresServer.OpenAsync(DataSource);
        await using var command = new NpgsqlCommand($"CREATE SCHEMA \"{Name}\"; CREATE TABLE \"{Name}\".effects (id text PRIMARY KEY); "
            + $"CREATE TABLE \"{Name}\".effect_refs (id text NOT NULL REFERENCES \"{Name}\".effects (id) DEFERRABLE INITIALLY DEFERRED);",
            connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        await using (var connection = await PostgresServer.OpenAsync(DataSource))
        {
            await using var command = new NpgsqlCommand($"DROP SCHEMA IF EXISTS \"{Name}\" CASCADE;", connection);
            await command.ExecuteNonQueryAsync();
        }

        await DataSource.DisposeAsync();
    }

    public async Task<T> ScalarAsync<T>(string sql, params object[] parameters)
    {
        await using var connection = await PostgresServer.OpenAsync(DataSource);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        return (T)(await command.ExecuteScalarAsync())!;
    }

    public async Task ExecuteAsync(string sql, params object[] parameters)
    {
        await using var connection = await PostgresServer.OpenAsync(DataSource);
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        }

        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Writes one row of a handler's own data through a claim's transaction.</summary>
    public Task WriteEffectAsync(IIdempotencyTransaction transaction, string effectId) => WriteRowAsync(transaction, "effects", effectId);

    /// <summary>Writes a row through a claim's transaction that refers to an effect by a foreign key checked at the commit.</summary>
    public Task WriteDeferredReferenceAsync(IIdempotencyTransaction transaction, string effectId) => WriteRowAsync(transaction, "effect_refs", effectId);

    /// <summary>Whether a reference <see cref="WriteDeferredReferenceAsync"/> wrote is committed.</summary>
    public async Task<bool> DeferredReferenceExistsAsync(string effectId)
        => await ScalarAsync<long>($"SELECT count(*) FROM \"{Name}\".effect_refs WHERE id = $1", effectId) == 1;

    private async Task WriteRowAsync(IIdempotencyTransaction transaction, string table, string id)
    {
        await using var command = transaction.Connection.CreateCommand();
        command.Transaction = transaction.Transaction;
        command.CommandText = $"INSERT INTO \"{Name}\".{table} (id) VALUES ($1)";
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Whether a handler's row is committed (read on a connection of its own).</summary>
    public async Task<bool> EffectExistsAsync(string effectId)
        => await ScalarAsync<long>($"SELECT count(*) FROM \"{Name}\".effects WHERE id = $1", effectId) == 1;
}
