using System.Data.Common;

namespace Idem.Storage;

/// <summary>
/// The shape every SQL store's transactional claim shares, for store authors: while claimed it owns a connection and an
/// open transaction; <see cref="CommitAsync"/> writes the response into that transaction and commits; rolling back or
/// disposing ends it without committing. A store supplies the response write and how a transaction is given back.
/// </summary>
public abstract class DbTransactionalClaim : TransactionalClaim
{
    private readonly Handle? _handle;
    private DbConnection? _connection;
    private DbTransaction? _transaction;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    protected DbTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns <paramref name="connection"/> and <paramref name="transaction"/>.</summary>
    protected DbTransactionalClaim(ClaimResult result, DbConnection connection, DbTransaction transaction)
        : base(result)
    {
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
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
        if (_transaction is null || _connection is null)
        {
            throw new InvalidOperationException(Result.Outcome == ClaimOutcome.Claimed
                ? "The claim's transaction has already been committed or rolled back."
                : $"The key was not claimed ({Result.Outcome}); there is no transaction to commit.");
        }

        try
        {
            if (!await WriteResponseAsync(_connection, _transaction, Result.Lease!, response, cancellationToken).ConfigureAwait(false))
            {
                // Nobody else can touch a row this transaction claimed and still holds: the handler's own SQL changed it.
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

    /// <summary>Writes the response into the claim's row, conditional on the lease; false when the row is not the lease's.</summary>
    protected abstract ValueTask<bool> WriteResponseAsync(DbConnection connection, DbTransaction transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken);

    /// <summary>Ends the transaction (disposing an uncommitted one rolls it back) and gives the connection back.</summary>
    protected abstract ValueTask EndAsync(DbConnection connection, DbTransaction transaction);

    private ValueTask FinishAsync()
    {
        var transaction = _transaction;
        var connection = _connection;
        if (transaction is null || connection is null)
        {
            return ValueTask.CompletedTask;
        }

        _transaction = null;
        _connection = null;
        return EndAsync(connection, transaction);
    }

    private sealed class Handle(DbConnection connection, DbTransaction transaction) : IIdempotencyTransaction
    {
        public DbConnection Connection { get; } = connection;

        public DbTransaction Transaction { get; } = transaction;
    }
}
