using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace Idem.Grpc.Tests.Transactional;

/// <summary>
/// Transactional gRPC methods on the PostgreSQL store, against the real server named by <c>IDEM_TEST_POSTGRES</c>, in a
/// schema of the class's own that is dropped at the end. Without the variable or the server these tests fail, never skip.
/// </summary>
[Trait("Category", "PostgreSQL")]
public sealed class PostgresTransactionalCallTests : TransactionalCallTests, IAsyncLifetime
{
    private const string Variable = "IDEM_TEST_POSTGRES";

    private readonly string _schema = "idem_grpc_" + Guid.NewGuid().ToString("N")[..12];
    private NpgsqlDataSource? _dataSource;

    private static string ConnectionString => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException(
            $"{Variable} is not set. These tests need a real PostgreSQL: run ./test.sh (which provisions one), or " +
            $"`. artifacts/test-services.env`, or export {Variable}=\"Host=…;Username=…;Password=…;Database=…\".");

    private protected override string EffectsTable => $"\"{_schema}\".effects";

    private NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException("The class's schema was not created.");

    public async Task InitializeAsync()
    {
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
        await using var command = _dataSource.CreateCommand($"CREATE SCHEMA \"{_schema}\"; CREATE TABLE {EffectsTable} (id bigserial PRIMARY KEY, key text NOT NULL);");
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        if (_dataSource is null)
        {
            return;
        }

        await using (var command = _dataSource.CreateCommand($"DROP SCHEMA IF EXISTS \"{_schema}\" CASCADE;"))
        {
            await command.ExecuteNonQueryAsync();
        }

        await _dataSource.DisposeAsync();
    }

    private protected override void AddStore(IIdempotencyBuilder builder)
        => builder.AddPostgresStore(ConnectionString, o =>
        {
            o.Schema = _schema;
            o.TableName = "keys";
        });

    private protected override Task<long> CountEffectsAsync(string key) => CountAsync(DataSource, EffectsTable, key);
}
