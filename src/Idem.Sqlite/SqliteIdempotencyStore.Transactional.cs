using System.Data.Common;
using Idem.Storage;
using Microsoft.Data.Sqlite;

namespace Idem.Sqlite;

/// <summary>
/// Transactional claims on SQLite: a claim made inside a SQLite transaction. While a phase runs it holds the connection, the open <c>BEGIN IMMEDIATE</c>
/// transaction (the database's write lock) and the store's write gate; between phases only the connection; committing,
/// rolling back or disposing gives everything back.
/// </summary>
/// <remarks>
/// Commands the handler runs on <see cref="IIdempotencyTransaction.Connection"/> must have their <c>Transaction</c> set
/// to <see cref="IIdempotencyTransaction.Transaction"/>: Microsoft.Data.Sqlite refuses them otherwise.
/// </remarks>
internal sealed partial class SqliteIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ClaimRequest.ThrowIfInvalid(request);

        // Before the write lock: reading the digest may hash the request's members.
        var members = request.MemberDigest;
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        SqliteConnection? connection = null;
        SqliteTransaction? transaction = null;
        var handedOver = false;
        try
        {
            connection = await OpenAsync(cancellationToken).ConfigureAwait(false);

            // BEGIN IMMEDIATE: a concurrent duplicate (in this process at the gate above, in another in SQLite's busy
            // handler) waits here until this transaction ends, then sees the committed record or, after a rollback,
            // nothing.
            transaction = connection.BeginTransaction(deferred: false);
            var result = await ClaimAsync(connection, transaction, request, members, cancellationToken).ConfigureAwait(false);
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
                await EndTransactionAsync(transaction).ConfigureAwait(false);
                if (connection is not null)
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
        => CompleteAsync((SqliteConnection)connection, (SqliteTransaction)transaction, lease, response, cancellationToken);

    /// <inheritdoc/>
    public async ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken)
        => await ExecuteOwnedAsync((SqliteConnection)connection, (SqliteTransaction)transaction, _sql.SetRecoveryPoint, lease, lease.LeaseDuration, recoveryPoint, cancellationToken).ConfigureAwait(false) == LeaseStatus.Ok;

    /// <summary>
    /// Opens the next phase of a claim on its connection: the gate, <c>BEGIN IMMEDIATE</c> and a renewal of the lease. Null,
    /// with the gate open again, when the lease no longer holds the key.
    /// </summary>
    public async ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken)
    {
        var sqlite = (SqliteConnection)connection;
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        SqliteTransaction? transaction = null;
        var handedOver = false;
        try
        {
            transaction = sqlite.BeginTransaction(deferred: false);
            if (await ExecuteOwnedAsync(sqlite, transaction, _sql.Renew, lease, lease.LeaseDuration, recoveryPoint: null, cancellationToken).ConfigureAwait(false) == LeaseStatus.LeaseLost)
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
                await EndTransactionAsync(transaction).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc/>
    // Disposing an uncommitted SqliteTransaction rolls it back; the store's write gate opens again.
    public ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease) => EndTransactionAsync(transaction);

    /// <inheritdoc/>
    public ValueTask CloseAsync(DbConnection connection) => connection.DisposeAsync();

    /// <summary>Ends a claim transaction (rolling back what was not committed) and opens the gate; the connection stays open.</summary>
    private async ValueTask EndTransactionAsync(DbTransaction? transaction)
    {
        try
        {
            if (transaction is not null)
            {
                await transaction.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }
}
