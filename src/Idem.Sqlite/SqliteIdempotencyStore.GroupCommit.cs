using System.Data.Common;
using Idem.Storage;
using Microsoft.Data.Sqlite;

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
