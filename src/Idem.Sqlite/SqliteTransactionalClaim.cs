using System.Data.Common;
using Idem.Storage;
using Microsoft.Data.Sqlite;

namespace Idem.Sqlite;

/// <summary>
/// A claim made inside a SQLite transaction. While claimed it holds the connection, the open <c>BEGIN IMMEDIATE</c>
/// transaction (the database's write lock) and the store's write gate; committing, rolling back or disposing gives all
/// three back.
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
        : base(result, connection, transaction)
        => _store = store;

    /// <inheritdoc/>
    protected override ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
        => _store!.CompleteInTransactionAsync((SqliteConnection)connection, (SqliteTransaction)transaction, lease, response, cancellationToken);

    /// <inheritdoc/>
    // Disposing an uncommitted SqliteTransaction rolls it back; the store's write gate opens again.
    protected override ValueTask EndAsync(DbConnection connection, DbTransaction transaction)
        => _store!.ReleaseTransactionAsync((SqliteConnection)connection, (SqliteTransaction)transaction);
}
