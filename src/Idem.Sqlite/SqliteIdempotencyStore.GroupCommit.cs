using System.Data.Common;
using Idem.Storage;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Idem.Sqlite;

/// <summary>
/// Group commit on SQLite: a batch holds the store's write gate and one <c>BEGIN IMMEDIATE</c> transaction (the database's
/// write lock) for all its operations, each claimed in a savepoint; one commit, one sync to disk, for the batch.
/// </summary>
internal sealed partial class SqliteIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask<(DbConnection Connection, DbTransaction Transaction)> BeginGroupAsync(CancellationToken cancellationToken)
    {
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        SqliteConnection? connection = null;
        try
        {
            connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            return (connection, connection.BeginTransaction(deferred: false));
        }
        catch
        {
            _writeGate.Release();
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }
    }

    /// <inheritdoc/>
    public ValueTask<ClaimResult> ClaimInTransactionAsync(DbConnection connection, DbTransaction transaction, ClaimRequest request, CancellationToken cancellationToken)
    {
        ClaimRequest.ThrowIfInvalid(request);
        return ClaimAsync((SqliteConnection)connection, (SqliteTransaction)transaction, request, request.MemberDigest, cancellationToken);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Foreign keys are SQLite's only deferrable constraints: the connection counts the deferred ones that are broken
    /// (<c>SQLITE_DBSTATUS_DEFERRED_FKS</c>), and a savepoint's rollback restores the count it began with.
    /// </remarks>
    public ValueTask ReleaseTurnAsync(DbConnection connection, DbTransaction transaction, string savepoint, CancellationToken cancellationToken)
    {
        var sqlite = (SqliteConnection)connection;
        if (raw.sqlite3_db_status(sqlite.Handle, raw.SQLITE_DBSTATUS_DEFERRED_FKS, out var broken, out _, 0) == raw.SQLITE_OK && broken > 0)
        {
            throw new SqliteException("FOREIGN KEY constraint failed: the operation's writes leave a deferred foreign key broken.", raw.SQLITE_CONSTRAINT, raw.SQLITE_CONSTRAINT_FOREIGNKEY);
        }

        ((SqliteTransaction)transaction).Release(savepoint);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc/>
    public async ValueTask EndGroupAsync(DbConnection connection, DbTransaction transaction)
    {
        try
        {
            await EndTransactionAsync(transaction).ConfigureAwait(false);
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
