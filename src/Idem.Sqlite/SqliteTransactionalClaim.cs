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
internal sealed class SqliteTransactionalClaim : TransactionalClaim
{
    private readonly SqliteIdempotencyStore? _store;
    private readonly Handle? _handle;
    private SqliteConnection? _connection;
    private SqliteTransaction? _transaction;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    public SqliteTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns the connection, the transaction and the store's write gate.</summary>
    public SqliteTransactionalClaim(ClaimResult result, SqliteIdempotencyStore store, SqliteConnection connection, SqliteTransaction transaction)
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
                // Only this transaction could have changed the row: the handler's own SQL did.
                throw new InvalidOperationException($"The idempotency record '{Result.Lease!.StoreKey}' was changed inside its own transaction; nothing was committed.");
            }

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

    // Disposing an uncommitted SqliteTransaction rolls it back.
    private ValueTask FinishAsync()
    {
        var transaction = _transaction;
        var connection = _connection;
        if (transaction is null || _store is null)
        {
            return ValueTask.CompletedTask;
        }

        _transaction = null;
        _connection = null;
        return _store.ReleaseTransactionAsync(connection, transaction);
    }

    private sealed class Handle(SqliteConnection connection, SqliteTransaction transaction) : IIdempotencyTransaction
    {
        public DbConnection Connection { get; } = connection;

        public DbTransaction Transaction { get; } = transaction;
    }
}
