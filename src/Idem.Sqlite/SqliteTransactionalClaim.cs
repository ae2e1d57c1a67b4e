using System.Data.Common;
using Idem.Storage;
using Microsoft.Data.Sqlite;

namespace Idem.Sqlite;

/// <summary>
/// A claim made inside a SQLite transaction. While a phase runs it holds the connection, the open <c>BEGIN IMMEDIATE</c>
/// transaction (the database's write lock) and the store's write gate; between phases only the connection; committing,
/// rolling back or disposing gives everything back.
/// </summary>
/// <remarks>
/// Commands the handler runs on <see cref="IIdempotencyTransaction.Connection"/> must have their <c>Transaction</c> set
/// to <see cref="IIdempotencyTransaction.Transaction"/>: Microsoft.Data.Sqlite refuses them otherwise.
/// </remarks>
internal sealed class SqliteTransactionalClaim : DbTransactionalClaim
{
    private readonly SqliteIdempotencyStore? _store;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    public SqliteTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns the connection, the transaction and the store's write gate.</summary>
    public SqliteTransactionalClaim(ClaimResult result, SqliteIdempotencyStore store, SqliteConnection connection, SqliteTransaction transaction)
        : base(result, store, connection, transaction)
        => _store = store;

    /// <inheritdoc/>
    protected override ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
        => _store!.CompleteInTransactionAsync((SqliteConnection)connection, (SqliteTransaction)transaction, lease, response, cancellationToken);

    /// <inheritdoc/>
    protected override ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken)
        => _store!.SetRecoveryPointInTransactionAsync((SqliteConnection)connection, (SqliteTransaction)transaction, lease, recoveryPoint, cancellationToken);

    /// <inheritdoc/>
    protected override async ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken)
        => await _store!.BeginLeasedTransactionAsync((SqliteConnection)connection, lease, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    // Disposing an uncommitted SqliteTransaction rolls it back; the store's write gate opens again.
    protected override ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction)
        => _store!.EndTransactionAsync((SqliteTransaction)transaction);

    /// <inheritdoc/>
    protected override ValueTask CloseAsync(DbConnection connection) => connection.DisposeAsync();
}
