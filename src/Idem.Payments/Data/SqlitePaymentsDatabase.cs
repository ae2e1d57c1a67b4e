using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;

namespace Idem.Payments.Data;

/// <summary>The ledger on one SQLite file, shared with Idem's key table so both commit in one transaction.</summary>
internal sealed class SqlitePaymentsDatabase(string connectionString, TimeProvider time, ILogger<SqlitePaymentsDatabase> logger) : IPaymentsDatabase
{
    public ISqlDialect Dialect => SqliteDialect.Instance;

    public string ConnectionString { get; } = connectionString;

    public async ValueTask<DbConnection> OpenReadConnectionAsync(CancellationToken cancellationToken)
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

    public async Task MigrateAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // WAL lets reads run beside the one writer. It is a property of the file: setting it again is a no-op.
            await ExecuteAsync(connection, null, "PRAGMA journal_mode = WAL;", cancellationToken).ConfigureAwait(false);

            var applied = 0;
            foreach (var migration in SqliteSchema.Migrations)
            {
                if (await ApplyAsync(connection, migration, cancellationToken).ConfigureAwait(false))
                {
                    applied++;
                    Log.MigrationApplied(logger, migration.Version, migration.Name);
                }
            }

            Log.SchemaReady(logger, applied, SqliteSchema.Migrations.Count);
        }
    }

    // Each migration runs in its own BEGIN IMMEDIATE transaction: a second process starting at the same moment waits
    // for the write lock, then finds the migration recorded and skips it.
    private async Task<bool> ApplyAsync(SqliteConnection connection, Migration migration, CancellationToken cancellationToken)
    {
        var transaction = connection.BeginTransaction(deferred: false);
        await using (transaction.ConfigureAwait(false))
        {
            await ExecuteAsync(connection, transaction, SqliteSchema.CreateMigrationsTable, cancellationToken).ConfigureAwait(false);
            using (var check = Command(connection, transaction, SqliteSchema.IsApplied))
            {
                check.Parameters.AddWithValue("@version", migration.Version);
                if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture) > 0)
                {
                    return false;
                }
            }

            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            using (var mark = Command(connection, transaction, SqliteSchema.MarkApplied))
            {
                mark.Parameters.AddWithValue("@version", migration.Version);
                mark.Parameters.AddWithValue("@name", migration.Name);
                mark.Parameters.AddWithValue("@applied_at", time.GetUtcNow());
                await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    private static async Task ExecuteAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        using var command = Command(connection, transaction, sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static SqliteCommand Command(SqliteConnection connection, SqliteTransaction? transaction, string sql)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        return command;
    }
}
