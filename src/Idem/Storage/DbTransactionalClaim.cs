using System.Data.Common;

namespace Idem.Storage;

/// <summary>
/// The transactional claim of every SQL store, for store authors: while claimed it owns a connection and, except between
/// atomic phases, an open transaction; <see cref="CommitAsync"/> writes the response into that transaction and commits;
/// rolling back or disposing ends it without committing. A store supplies only its statements
/// (<see cref="ITransactionalClaimStatements"/>): the response, the recovery point, the lease check that opens a phase,
/// and how a transaction and a connection are given back.
/// </summary>
public sealed class DbTransactionalClaim : TransactionalClaim
{
    private readonly IIdempotencyStore? _store;
    private readonly ITransactionalClaimStatements? _statements;
    private readonly Handle? _handle;
    private DbConnection? _connection;
    private DbTransaction? _transaction;
    private string? _recoveryPoint;
    private bool _phaseCommitted;

    /// <summary>An outcome other than claimed: no transaction is held.</summary>
    public DbTransactionalClaim(ClaimResult result)
        : base(result)
    {
    }

    /// <summary>A claim that now owns <paramref name="connection"/> and <paramref name="transaction"/>.</summary>
    /// <param name="result">The claimed result, with its lease.</param>
    /// <param name="store">The store, which releases the key to its recovery point when a phased claim rolls back.</param>
    /// <param name="statements">The store's statements on an open claim.</param>
    /// <param name="connection">The open connection.</param>
    /// <param name="transaction">The transaction the claim was made in.</param>
    public DbTransactionalClaim(ClaimResult result, IIdempotencyStore store, ITransactionalClaimStatements statements, DbConnection connection, DbTransaction transaction)
        : base(result)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(statements);
        ArgumentNullException.ThrowIfNull(connection);
        ArgumentNullException.ThrowIfNull(transaction);
        _store = store;
        _statements = statements;
        _connection = connection;
        _transaction = transaction;
        _recoveryPoint = result.Lease?.RecoveryPoint;
        _handle = new Handle(this);
    }

    /// <inheritdoc/>
    public override IIdempotencyTransaction? Transaction => _connection is null ? null : _handle;

    /// <inheritdoc/>
    public override string? RecoveryPoint => _recoveryPoint;

    private IdempotencyLease Lease => Result.Lease!;

    /// <inheritdoc/>
    public override async ValueTask<LeaseStatus> CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        var connection = OpenConnection();
        if (_transaction is null && await BeginPhaseAsync(cancellationToken).ConfigureAwait(false) == LeaseStatus.LeaseLost)
        {
            return LeaseStatus.LeaseLost;
        }

        var transaction = _transaction!;
        _transaction = null;
        try
        {
            if (!await _statements!.WriteRecoveryPointAsync(connection, transaction, Lease, recoveryPoint, cancellationToken).ConfigureAwait(false))
            {
                // The phase's first statement re-asserted the lease and holds the row: only the handler's own SQL could
                // have changed it.
                throw new InvalidOperationException($"The idempotency record '{Lease.StoreKey}' was changed inside its own transaction; nothing was committed.");
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await _statements!.EndTransactionAsync(connection, transaction, Lease).ConfigureAwait(false);
        }

        _phaseCommitted = true;
        _recoveryPoint = recoveryPoint;
        return LeaseStatus.Ok;
    }

    /// <inheritdoc/>
    public override async ValueTask<LeaseStatus> BeginPhaseAsync(CancellationToken cancellationToken = default)
    {
        var connection = OpenConnection();
        if (_transaction is not null)
        {
            return LeaseStatus.Ok;
        }

        _transaction = await _statements!.BeginLeasedTransactionAsync(connection, Lease, cancellationToken).ConfigureAwait(false);
        return _transaction is null ? LeaseStatus.LeaseLost : LeaseStatus.Ok;
    }

    /// <inheritdoc/>
    public override async ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        var connection = OpenConnection();
        try
        {
            if (_transaction is null && await BeginPhaseAsync(cancellationToken).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                // Another request took the key over between phases and finishes the operation; this one must not release it.
                _phaseCommitted = false;
                throw new IdempotencyLeaseLostException($"The idempotency key '{Lease.StoreKey}' was taken over by another request between phases; the response was not stored.");
            }

            if (!await _statements!.WriteResponseAsync(connection, _transaction!, Lease, response, cancellationToken).ConfigureAwait(false))
            {
                // Nobody else can touch a row this transaction claimed and still holds: the handler's own SQL changed it.
                throw new InvalidOperationException($"The idempotency record '{Lease.StoreKey}' was changed inside its own transaction; nothing was committed.");
            }

            // The business transaction's own commit; the response rides in it.
            await _transaction!.CommitAsync(cancellationToken).ConfigureAwait(false);
            _phaseCommitted = false;
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

    private DbConnection OpenConnection()
        => _connection ?? throw new InvalidOperationException(Result.Outcome == ClaimOutcome.Claimed
            ? "The claim's transaction has already been committed or rolled back."
            : $"The key was not claimed ({Result.Outcome}); there is no transaction.");

    private async ValueTask FinishAsync()
    {
        var connection = _connection;
        if (connection is null)
        {
            return;
        }

        var transaction = _transaction;
        _transaction = null;
        _connection = null;
        try
        {
            if (transaction is not null)
            {
                await _statements!.EndTransactionAsync(connection, transaction, Lease).ConfigureAwait(false);
            }
        }
        finally
        {
            await _statements!.CloseAsync(connection).ConfigureAwait(false);
        }

        if (_phaseCommitted)
        {
            _phaseCommitted = false;
            try
            {
                // The phases so far are durable: hand the key to the next request at its recovery point now. If this fails
                // the lease runs out instead, with the same result a little later.
                await _store!.ReleaseAsync(Lease, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                // Nothing to undo: the lease running out hands the key on just the same.
            }
        }
    }

    private sealed class Handle(DbTransactionalClaim claim) : IIdempotencyTransaction
    {
        public DbConnection Connection => claim._connection ?? throw new InvalidOperationException("The request's transaction has ended.");

        public DbTransaction Transaction => claim._transaction
            ?? throw new InvalidOperationException(claim._connection is null
                ? "The request's transaction has ended."
                : "No transaction is open between phases: call BeginPhaseAsync before writing again.");
    }
}
