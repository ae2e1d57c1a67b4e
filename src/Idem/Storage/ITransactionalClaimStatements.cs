using System.Data.Common;

namespace Idem.Storage;

/// <summary>
/// What a SQL store says on an open transactional claim, for store authors: <see cref="DbTransactionalClaim"/> runs the
/// phases, the commit and the rollback with these statements. Each write is conditional on the lease's owner token.
/// </summary>
public interface ITransactionalClaimStatements
{
    /// <summary>Writes the response into the claim's row, conditional on the lease; false when the row is not the lease's.</summary>
    ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken);

    /// <summary>Writes the recovery point into the claim's row and renews its lease, conditional on the lease; false when the row is not the lease's.</summary>
    ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken);

    /// <summary>
    /// Opens a transaction on <paramref name="connection"/> whose first statement renews the lease (locking the row where
    /// the database locks rows); null, with nothing left open, when the lease no longer holds the key.
    /// </summary>
    ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken);

    /// <summary>Ends a transaction (disposing an uncommitted one rolls it back) and whatever the store held for it; keeps the connection.</summary>
    ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease);

    /// <summary>Gives the connection back.</summary>
    ValueTask CloseAsync(DbConnection connection);
}
