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
            return await ClaimAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, request, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
        {
            Log.ClaimWaitTimedOut(_logger, request.StoreKey, _options.LockTimeout);
            return ClaimResult.InProgress(Min(WaitTimedOutRetryAfter, request.LeaseDuration));
        }
    }

    /// <inheritdoc/>
    /// <remarks>
    /// One round trip: <c>SET CONSTRAINTS ALL IMMEDIATE</c> runs the checks the operation's writes deferred to the commit,
    /// inside a savepoint that is then rolled back, so that the constraint modes the next operations see are the ones they
    /// would see alone (the checks run again at the commit, and pass).
    /// </remarks>
    public async ValueTask ReleaseTurnAsync(DbConnection connection, DbTransaction transaction, string savepoint, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(
            $"SAVEPOINT idem_deferred; SET CONSTRAINTS ALL IMMEDIATE; ROLLBACK TO SAVEPOINT idem_deferred; RELEASE SAVEPOINT idem_deferred; RELEASE SAVEPOINT {savepoint}",
            (NpgsqlConnection)connection,
            (NpgsqlTransaction)transaction);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public ValueTask EndGroupAsync(DbConnection connection, DbTransaction transaction)
        => EndTransactionAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, "group commit");
}
