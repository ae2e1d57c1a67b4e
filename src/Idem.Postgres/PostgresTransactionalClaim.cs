using System.Data.Common;
using Idem.Storage;
using Npgsql;

namespace Idem.Postgres;

/// <summary>
/// A claim made as the first statement of a PostgreSQL transaction. While a phase runs it holds the pooled connection and
/// the open transaction, and with it the row that concurrent duplicates wait on; between phases only the connection;
/// committing, rolling back or disposing gives everything back.
/// </summary>
/// <remarks>
/// Commands the handler runs on <see cref="IIdempotencyTransaction.Connection"/> join the transaction by themselves
/// (Npgsql needs no <c>Transaction</c> on them). The transaction runs at READ COMMITTED with the store's
/// <c>lock_timeout</c>; a handler may <c>SET LOCAL</c> its own.
/// </remarks>
internal sealed class PostgresTransactionalClaim : DbTransactionalClaim
{
    private readonly PostgresIdempotencyStore? _store;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    public PostgresTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns the connection and the transaction.</summary>
    public PostgresTransactionalClaim(ClaimResult result, PostgresIdempotencyStore store, NpgsqlConnection connection, NpgsqlTransaction transaction)
        : base(result, store, connection, transaction)
        => _store = store;

    /// <inheritdoc/>
    protected override ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
        => _store!.CompleteInTransactionAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, lease, response, cancellationToken);

    /// <inheritdoc/>
    protected override ValueTask<bool> WriteRecoveryPointAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken)
        => _store!.SetRecoveryPointInTransactionAsync((NpgsqlConnection)connection, (NpgsqlTransaction)transaction, lease, recoveryPoint, cancellationToken);

    /// <inheritdoc/>
    protected override async ValueTask<DbTransaction?> BeginLeasedTransactionAsync(DbConnection connection, IdempotencyLease lease, CancellationToken cancellationToken)
        => await _store!.BeginLeasedTransactionAsync((NpgsqlConnection)connection, lease, cancellationToken).ConfigureAwait(false);

    /// <inheritdoc/>
    // Disposing an uncommitted NpgsqlTransaction rolls it back; a committed one is simply let go.
    protected override ValueTask EndTransactionAsync(DbConnection connection, DbTransaction transaction)
        => _store!.EndTransactionAsync((NpgsqlTransaction)transaction, Result.Lease!.StoreKey);

    /// <inheritdoc/>
    protected override ValueTask CloseAsync(DbConnection connection) => connection.DisposeAsync();
}
