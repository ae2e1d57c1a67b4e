using System.Data.Common;
using Npgsql;

namespace Idem.Payments.Data;

/// <summary>
/// The ledger on PostgreSQL, through the same <see cref="NpgsqlDataSource"/> as Idem's key table, so a request's key, its
/// ledger rows and its stored response commit in one transaction. Any number of nodes may share the database.
/// </summary>
internal sealed class PostgresPaymentsDatabase(NpgsqlDataSource dataSource, TimeProvider time, ILogger<PostgresPaymentsDatabase> logger)
    : PaymentsDatabase(PostgresDialect.Instance, PostgresSchema.Migrations, PostgresSchema.CreateMigrationsTable, time, logger)
{
    // Advisory locks are per database, so this one key serialises the migrations of every node sharing it and nothing else.
    private const long MigrationLockKey = 0x4964656D_50617973; // "IdemPays"

    public override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
        => await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);

    // A transaction-scoped advisory lock: released by the commit or rollback that ends the migration, or by the server
    // when a node dies holding it, so a crashed node never blocks the others.
    protected override async Task<DbTransaction> BeginExclusiveAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var command = UnitOfWork.On(connection, transaction, Dialect).Command("SELECT pg_advisory_xact_lock(@key);");
            Add(command, "@key", MigrationLockKey);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return transaction;
        }
        catch
        {
            await transaction.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }
}
