using System.Data.Common;

namespace Idem.Storage;

/// <summary>
/// A SQL store that can run many transactional operations in one database transaction (group commit), for store authors.
/// The engine opens one transaction per batch (<see cref="BeginGroupAsync"/>), runs each operation in a savepoint of it
/// (its claim through <see cref="ClaimInTransactionAsync"/>, its writes, its response through
/// <see cref="ITransactionalClaimStatements.WriteResponseAsync"/>), and commits once for all of them.
/// </summary>
public interface IGroupCommitStore : ITransactionalIdempotencyStore, ITransactionalClaimStatements
{
    /// <summary>
    /// Opens a connection and begins the transaction a batch shares, holding whatever keeps the store's other writers out
    /// while it is open (SQLite's write lock); <see cref="EndGroupAsync"/> gives it all back.
    /// </summary>
    ValueTask<(DbConnection Connection, DbTransaction Transaction)> BeginGroupAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Claims the key inside <paramref name="transaction"/>, as <see cref="ITransactionalIdempotencyStore.BeginTransactionalAsync"/>
    /// does in a transaction of its own. A key another transaction holds and does not give up in time is
    /// <see cref="ClaimOutcome.InProgress"/>, never a wait without end. The engine rolls back to its savepoint on any
    /// outcome other than claimed, and on an exception.
    /// </summary>
    ValueTask<ClaimResult> ClaimInTransactionAsync(DbConnection connection, DbTransaction transaction, ClaimRequest request, CancellationToken cancellationToken);

    /// <summary>
    /// Ends the turn of an operation whose writes stay in the batch: checks what its writes left for the commit to check
    /// (deferred constraints), then releases its <paramref name="savepoint"/>. When a deferred check fails, it throws the
    /// store's exception; the engine then rolls back to the savepoint, so that the operation fails alone, as its own commit
    /// would have, and the batch's commit cannot fail on its account. The check must leave the transaction's constraint
    /// settings as they were, for the operations that follow.
    /// </summary>
    ValueTask ReleaseTurnAsync(DbConnection connection, DbTransaction transaction, string savepoint, CancellationToken cancellationToken);

    /// <summary>Ends a batch's transaction (rolling back what was not committed), gives back what it held and closes the connection.</summary>
    ValueTask EndGroupAsync(DbConnection connection, DbTransaction transaction);
}
