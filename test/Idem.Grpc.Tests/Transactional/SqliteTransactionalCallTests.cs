using Microsoft.Extensions.DependencyInjection;
using Idem.Testing;

namespace Idem.Grpc.Tests.Transactional;

/// <summary>Transactional gRPC methods on the SQLite store, on a temp file of the class's own.</summary>
public sealed class SqliteTransactionalCallTests : TransactionalCallTests, IAsyncLifetime
{
    private readonly SqliteTempFile _database = new("idem-grpc-tests");

    private protected override string EffectsTable => "effects";

    public Task InitializeAsync() => _database.ExecuteAsync("PRAGMA journal_mode = WAL; CREATE TABLE effects (id INTEGER PRIMARY KEY, key TEXT NOT NULL);");

    public async Task DisposeAsync() => await _database.DisposeAsync();

    private protected override void AddStore(IIdempotencyBuilder builder) => builder.AddSqliteStore(_database.ConnectionString);

    private protected override Task<long> CountEffectsAsync(string key) => CountAsync(_database.DataSource, EffectsTable, key);
}
