using Idem.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using System.Buffers.Binary;
using System.Data.Common;
using System.Data;
using System.Security.Cryptography;
using System.Text;

namespace Idem.Postgres;

/// <summary>
/// Transactional claims on PostgreSQL: a claim made as the first statement of a PostgreSQL transaction. While a phase runs it holds the pooled connection and
/// the open transaction, and with it the row that concurrent duplicates wait on; between phases only the connection;
/// committing, rolling back or disposing gives everything back.
/// </summary>
/// <remarks>
/// Commands the handler runs on <see cref="IIdempotencyTransaction.Connection"/> join the transaction by themselves
/// (Npgsql needs no <c>Transaction</c> on them). The transaction runs at READ COMMITTED with the store's
/// <c>lock_timeout</c>; a handler may <c>SET LOCAL</c> its own.
/// </remarks>
internal sealed partial class PostgresIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ClaimRequest.ThrowIfInvalid(request);
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        NpgsqlTransaction? transaction = null;
        var handedOver = false;
        try
        {
            // Npgsql sends BEGIN with the next statement, so the transaction and its first statement, the claim, cost one
            // round trip. READ COMMITTED whatever the server's default: after waiting on a concurrent claim, the insert must
            // see that transaction's outcome (a higher level would fail with a serialization error instead).
            transaction = await connection.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
            ClaimResult result;
            try
            {
                result = await ClaimAsync(connection, transaction, request, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                Log.ClaimWaitTimedOut(_logger, request.StoreKey, _options.LockTimeout);
                return new DbTransactionalClaim(ClaimResult.InProgress(Min(WaitTimedOutRetryAfter, request.LeaseDuration)));
            }

            if (result.Outcome != ClaimOutcome.Claimed)
            {
                return new DbTransactionalClaim(result);
            }

            handedOver = true;
            return new DbTransactionalClaim(result, this, this, connection, transaction);
        }
        finally
        {
            if (!handedOver)
            {
                await EndTransactionAsync(connection, transaction, request.StoreKey).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
        => CompleteAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, lease, Guid.ParseExact(lease.OwnerToken, "N"), response, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken)
        => await ExecuteOwnedAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, _sql.SetRecoveryPoint, lease.StoreKey, Guid.ParseExact(lease.OwnerToken, "N"), lease.LeaseDuration, recoveryPoint, cancellationToken).ConfigureAwait(false) == LeaseStatus.Ok;

    /// <summary>
    /// Opens the next phase of a claim on its connection: a READ COMMITTED transaction whose first statement renews the
    /// lease and so locks the row again. Null, rolled back, when the lease no longer holds the key.
    /// </summary>
    public async ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken)
    {
        var npgsql = (NpgsqlConnection)connection;
        var transaction = await npgsql.BeginTransactionAsync(IsolationLevel.ReadCommitted, cancellationToken).ConfigureAwait(false);
        var handedOver = false;
        try
        {
            if (await ExecuteOwnedAsync(npgsql, transaction, _sql.Renew, lease.StoreKey, Guid.ParseExact(lease.OwnerToken, "N"), lease.LeaseDuration, null, cancellationToken).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                return null;
            }

            handedOver = true;
            return transaction;
        }
        finally
        {
            if (!handedOver)
            {
                await EndTransactionAsync(transaction, lease.StoreKey).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease) => EndTransactionAsync((NpgsqlTransaction)transaction, lease.StoreKey);

    /// <inheritdoc/>
    public ValueTask CloseAsync(DbConnection connection) => connection.DisposeAsync();

    /// <summary>Ends a claim transaction (rolling back what was not committed) and gives its connection back to the pool.</summary>
    private async ValueTask EndTransactionAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string storeKey)
    {
        try
        {
            await EndTransactionAsync(transaction, storeKey).ConfigureAwait(false);
        }
        finally
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Ends a claim transaction (rolling back what was not committed); the connection stays open.</summary>
    private async ValueTask EndTransactionAsync(NpgsqlTransaction? transaction, string storeKey)
    {
        try
        {
            if (transaction is not null)
            {
                // Disposing an open NpgsqlTransaction rolls it back at once, whatever became of the request: the row lock
                // must go back to the duplicates waiting on it.
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or InvalidOperationException)
        {
            // A broken connection is not returned to the pool; the server rolls back when the session ends.
            Log.RollbackFailed(_logger, storeKey, ex);
        }
    }
}
