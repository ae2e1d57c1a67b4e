using System.Data;
using System.Data.Common;
using Idem.Storage;
using Npgsql;

namespace Idem.Postgres;

/// <summary>
/// Group commit on PostgreSQL: a batch is one READ COMMITTED transaction on one pooled connection; each operation claims
/// in a savepoint of it. A key another transaction holds past the store's <c>lock_timeout</c> is in progress, as for a
/// transactional claim of its own.
/// </summary>
internal sealed partial class PostgresIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask<(DbConnection Connection, DbTransaction Transaction)> BeginGroupAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return (connection, await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false));
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask<ClaimResult> ClaimInTransactionAsync(DbConnection connection, DbTransaction transaction, ClaimRequest request, CancellationToken cancellationToken)
    {
        ClaimRequest.ThrowIfInvalid(request);
        try
        {
            return await ClaimAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, request, request.MemberDigest, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            Log.ClaimWaitTimedOut(_logger, request.StoreKey, _options.LockTimeout);
            return ClaimResult.InProgress(Min(WaitTimedOutRetryAfter, request.LeaseDuration));
        }
    }

    /// <inheritdoc/>
    public ValueTask EndGroupAsync(DbConnection connection, DbTransaction transaction)
        => EndTransactionAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, "group commit");
}
