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
        _database.Execute("CREATE TABLE IF NOT EXISTS effects (id TEXT NOT NULL PRIMARY KEY);");
        var store = new SqliteIdempotencyStore(new SqliteStoreOptions { ConnectionString = _database.ConnectionString }, _time, NullLogger<SqliteIdempotencyStore>.Instance);
        _stores.Add(store);
        return new(store);
    }

    protected override Task AdvanceTimeAsync(TimeSpan by)
    {
        _time.Advance(by);
        return Task.CompletedTask;
    }

    protected override async Task WriteEffectAsync(IIdempotencyTransaction transaction, string effectId)
    {
        await using var command = transaction.Connection.CreateCommand();
        command.Transaction = transaction.Transaction;
        command.CommandText = "INSERT INTO effects (id) VALUES (@id);";
        command.Parameters.Add(new SqliteParameter("@id", effectId));
        await command.ExecuteNonQueryAsync();
    }

    protected override Task<bool> EffectExistsAsync(string effectId)
    {
        using var connection = _database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM effects WHERE id = @id;";
        command.Parameters.AddWithValue("@id", effectId);
        return Task.FromResult((long)command.ExecuteScalar()! == 1);
    }
}
