using Idem.Storage;
using Idem.Storage.ConformanceTests;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Sqlite.Tests;

/// <summary>The SQLite store, standalone and transactional, against the conformance suite: a database file per test.</summary>
public sealed class SqliteStoreConformanceTests : TransactionalStoreConformanceTests, IDisposable
{
    private readonly TempDatabase _database = new();
    private readonly FakeTimeProvider _time = new();
    private readonly List<SqliteIdempotencyStore> _stores = [];

    protected override DateTimeOffset StoreNow => _time.GetUtcNow();

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        _database.Dispose();
    }

    protected override ValueTask<ITransactionalIdempotencyStore> CreateTransactionalStoreAsync()
    {
        _database.Execute(
            "CREATE TABLE IF NOT EXISTS effects (id TEXT NOT NULL PRIMARY KEY);"
            + "CREATE TABLE IF NOT EXISTS effect_refs (id TEXT NOT NULL REFERENCES effects (id) DEFERRABLE INITIALLY DEFERRED);");

        // Foreign keys on, as an application that declares them runs: the deferred references are checked.
        var connectionString = new SqliteConnectionStringBuilder(_database.ConnectionString) { ForeignKeys = true }.ToString();
        var store = new SqliteIdempotencyStore(new SqliteStoreOptions { ConnectionString = connectionString }, _time, NullLogger<SqliteIdempotencyStore>.Instance);
        _stores.Add(store);
        return new(store);
    }

    protected override Task AdvanceTimeAsync(TimeSpan by)
    {
        _time.Advance(by);
        return Task.CompletedTask;
    }

    protected override Task WriteEffectAsync(IIdempotencyTransaction transaction, string effectId) => WriteRowAsync(transaction, "effects", effectId);

    protected override Task<bool> EffectExistsAsync(string effectId) => Task.FromResult(CountRows("effects", effectId) == 1);

    protected override Task WriteDeferredReferenceAsync(IIdempotencyTransaction transaction, string effectId) => WriteRowAsync(transaction, "effect_refs", effectId);

    protected override Task<bool> DeferredReferenceExistsAsync(string effectId) => Task.FromResult(CountRows("effect_refs", effectId) == 1);

    private static async Task WriteRowAsync(IIdempotencyTransaction transaction, string table, string id)
    {
        await using var command = transaction.Connection.CreateCommand();
        command.Transaction = transaction.Transaction;
        command.CommandText = $"INSERT INTO {table} (id) VALUES (@id);";
        command.Parameters.Add(new SqliteParameter("@id", id));
        await command.ExecuteNonQueryAsync();
    }

    private long CountRows(string table, string id)
    {
        using var connection = _database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {table} WHERE id = @id;";
        command.Parameters.AddWithValue("@id", id);
        return (long)command.ExecuteScalar()!;
    }
}
