using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Idem.Payments.Data;

/// <summary>The ledger on one SQLite file, shared with Idem's key table so both commit in one transaction.</summary>
internal sealed class SqlitePaymentsDatabase(string connectionString, TimeProvider time, ILogger<SqlitePaymentsDatabase> logger)
    : PaymentsDatabase(SqliteDialect.Instance, SqliteSchema.Migrations, SqliteSchema.CreateMigrationsTable, time, logger)
{
    public string ConnectionString { get; } = connectionString;

    public override async ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    // WAL lets reads run beside the one writer. It is a property of the file: setting it again is a no-op. Foreign keys
    // are off while migrations run (SQLite's way to rebuild a table others refer to) and checked before each commits.
    protected override Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken)
        => ExecuteAsync(UnitOfWork.On(connection, null, Dialect), "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = OFF;", cancellationToken);

    protected override Task FinishAsync(DbConnection connection, CancellationToken cancellationToken)
        => ExecuteAsync(UnitOfWork.On(connection, null, Dialect), "PRAGMA foreign_keys = ON;", cancellationToken);

    protected override async Task VerifyAsync(UnitOfWork work, Migration migration, CancellationToken cancellationToken)
    {
        using var check = work.Command("PRAGMA foreign_key_check;");
        var reader = await check.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException(
                    $"Migration {migration.Version} ({migration.Name}) would leave a row of {reader.GetString(0)} referring to a missing row of {reader.GetString(2)}.");
            }
        }
    }

    // BEGIN IMMEDIATE takes the database's single write lock at once; another writer waits for it (busy timeout). A
    // deferred transaction that reads and then writes could instead be refused if another writer committed in between.
    protected override Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
        => Task.FromResult<DbTransaction>(((SqliteConnection)connection).BeginTransaction(deferred: false));

    // The write lock is exclusive already: one migration at a time, across processes too.
    protected override Task<DbTransaction> BeginExclusiveAsync(DbConnection connection, CancellationToken cancellationToken)
        => BeginWriteAsync(connection, cancellationToken);
}
