using System.Data.Common;
using Idem.Storage;
using Npgsql;

namespace Idem.Postgres;

/// <summary>
/// A claim made as the first statement of a PostgreSQL transaction. While claimed it holds the pooled connection and the
/// open transaction, and with it the uncommitted row that concurrent duplicates wait on; committing, rolling back or
/// disposing gives both back.
/// </summary>
/// <remarks>
/// Commands the handler runs on <see cref="IIdempotencyTransaction.Connection"/> join the transaction by themselves
/// (Npgsql needs no <c>Transaction</c> on them). The transaction runs at READ COMMITTED with the store's
/// <c>lock_timeout</c>; a handler may <c>SET LOCAL</c> its own.
/// </remarks>
internal sealed class PostgresTransactionalClaim : TransactionalClaim
{
    private readonly PostgresIdempotencyStore? _store;
    private readonly Handle? _handle;
    private NpgsqlConnection? _connection;
    private NpgsqlTransaction? _transaction;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    public PostgresTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns the connection and the transaction.</summary>
    public PostgresTransactionalClaim(ClaimResult result, PostgresIdempotencyStore store, NpgsqlConnection connection, NpgsqlTransaction transaction)
        : base(result)
    {
        _store = store;
        _connection = connection;
        _transaction = transaction;
        _handle = new Handle(connection, transaction);
    }

    /// <inheritdoc/>
    public override IIdempotencyTransaction? Transaction => _transaction is null ? null : _handle;

    /// <inheritdoc/>
    public override async ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        if (_transaction is null || _connection is null || _store is null)
        {
            throw new InvalidOperationException(Result.Outcome == ClaimOutcome.Claimed
                ? "The claim's transaction has already been committed or rolled back."
                : $"The key was not claimed ({Result.Outcome}); there is no transaction to commit.");
        }

        try
        {
            if (!await _store.CompleteInTransactionAsync(_connection, _transaction, Result.Lease!, response, cancellationToken).ConfigureAwait(false))
            {
                // Nobody else can touch an uncommitted row this transaction inserted or locked: the handler's own SQL did.
                throw new InvalidOperationException($"The idempotency record '{Result.Lease!.StoreKey}' was changed inside its own transaction; nothing was committed.");
            }

            // The business transaction's own commit; the response rides in it.
            await _transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await FinishAsync().ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public override ValueTask RollbackAsync(CancellationToken cancellationToken = default) => FinishAsync();

    /// <inheritdoc/>
    protected override ValueTask DisposeAsyncCore() => FinishAsync();

    // Disposing an uncommitted NpgsqlTransaction rolls it back; a committed one is simply let go.
    private ValueTask FinishAsync()
    {
        var transaction = _transaction;
        var connection = _connection;
        if (transaction is null || connection is null || _store is null)
        {
            return ValueTask.CompletedTask;
        }

        _transaction = null;
        _connection = null;
        return _store.EndTransactionAsync(connection, transaction, Result.Lease!.StoreKey);
    }

    private sealed class Handle(NpgsqlConnection connection, NpgsqlTransaction transaction) : IIdempotencyTransaction
    {
        public DbConnection Connection { get; } = connection;

        public DbTransaction Transaction { get; } = transaction;
    }
}
