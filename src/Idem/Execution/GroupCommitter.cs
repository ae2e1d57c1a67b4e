using System.Data.Common;
using System.Runtime.ExceptionServices;
using Idem.Storage;

namespace Idem;

/// <summary>
/// Group commit: transactional operations on one store take turns on one database transaction, each in a savepoint of its
/// own, and one commit makes all of them durable. An operation's claim, writes and response are its own: one that fails
/// (or finds its key taken) rolls back to its savepoint and is answered alone, and the others go on. The commit answers
/// every operation that stayed in the batch; a commit that fails fails each of them as if it had failed alone, so each
/// retry runs once.
/// </summary>
/// <remarks>
/// One batch runs at a time per store. A batch takes the next waiting operation as soon as the one before it has finished
/// its turn, and commits when it holds <see cref="GroupCommitOptions.MaxBatchSize"/> operations, or when none has come
/// for <see cref="GroupCommitOptions.MaxWait"/>. Operations that come while a batch commits wait for the next. So under
/// load, everything that queued up during one commit shares the next, and the row locks of a hot account are taken once
/// per batch instead of once per operation.
/// </remarks>
internal sealed class GroupCommitter
{
    private const string Savepoint = "idem_operation";

    private readonly IGroupCommitStore _store;
    private readonly GroupCommitOptions _options;
    private readonly IdempotencyMetrics _metrics;
    private readonly WorkQueue<Turn> _waiting;

    public GroupCommitter(IGroupCommitStore store, GroupCommitOptions options, IdempotencyMetrics metrics)
    {
        _store = store;
        _options = options;
        _metrics = metrics;
        _waiting = new WorkQueue<Turn>(RunBatchAsync);
    }

    /// <summary>
    /// Waits for the operation's turn in a batch, then claims its key in a savepoint of the batch's transaction. A claim
    /// that is not <see cref="ClaimOutcome.Claimed"/> holds nothing: its turn is over.
    /// </summary>
    public async ValueTask<TransactionalClaim> BeginAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        var turn = new Turn();
        _waiting.Enqueue(turn);

        Batch batch;
        using (cancellationToken.Register(static state => ((Turn)state!).Granted.TrySetCanceled(), turn))
        {
            batch = await turn.Granted.Task.ConfigureAwait(false);
        }

        ClaimResult claim;
        try
        {
            await batch.Transaction.SaveAsync(Savepoint, cancellationToken).ConfigureAwait(false);
            claim = await _store.ClaimInTransactionAsync(batch.Connection, batch.Transaction, request, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await EndTurnAsync(batch, turn, keep: false).ConfigureAwait(false);
            throw;
        }

        if (claim.Outcome != ClaimOutcome.Claimed)
        {
            await EndTurnAsync(batch, turn, keep: false).ConfigureAwait(false);
            return new DbTransactionalClaim(claim);
        }

        return new GroupClaim(claim, this, batch, turn);
    }

    /// <summary>
    /// Ends an operation's turn: its savepoint released (its writes stay in the batch) or rolled back. A deferred constraint
    /// its writes broke is found here, before the release: the operation's savepoint is rolled back and the store's exception
    /// thrown, so that it fails alone and the batch's commit does not fail on its account.
    /// </summary>
    private async ValueTask EndTurnAsync(Batch batch, Turn turn, bool keep)
    {
        ExceptionDispatchInfo? refused = null;
        try
        {
            if (keep)
            {
                try
                {
                    await _store.ReleaseTurnAsync(batch.Connection, batch.Transaction, Savepoint, CancellationToken.None).ConfigureAwait(false);
                }
                catch (DbException ex)
                {
                    refused = ExceptionDispatchInfo.Capture(ex);
                    keep = false;
                }
            }

            if (!keep)
            {
                await batch.Transaction.RollbackAsync(Savepoint, CancellationToken.None).ConfigureAwait(false);
                await batch.Transaction.ReleaseAsync(Savepoint, CancellationToken.None).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The transaction is unusable (the connection broke): nothing of the batch can commit.
            batch.Broken = ex;
            keep = false;
        }
        finally
        {
            turn.Finished.TrySetResult(keep);
        }

        refused?.Throw();
    }

    private async Task RunBatchAsync()
    {
        DbConnection connection;
        DbTransaction transaction;
        try
        {
            (connection, transaction) = await _store.BeginGroupAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // The store cannot be reached: every operation waiting now fails as it would alone.
            while (_waiting.TryTake(out var turn))
            {
                turn.Granted.TrySetException(ex);
            }

            return;
        }

        var batch = new Batch(connection, transaction);
        var members = new List<Turn>(_options.MaxBatchSize);
        try
        {
            while (members.Count < _options.MaxBatchSize && batch.Broken is null && await _waiting.NextAsync(_options.MaxWait).ConfigureAwait(false) is { } turn)
            {
                if (!turn.Granted.TrySetResult(batch))
                {
                    continue; // its caller gave up while it waited
                }

                if (await turn.Finished.Task.ConfigureAwait(false))
                {
                    members.Add(turn);
                }
            }

            if (members.Count > 0)
            {
                if (batch.Broken is not null)
                {
                    throw batch.Broken;
                }

                await transaction.CommitAsync(CancellationToken.None).ConfigureAwait(false);
                _metrics.GroupCommitted(members.Count);
            }

            batch.Committed.TrySetResult();
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            batch.Committed.TrySetException(ex);
        }
        finally
        {
            await _store.EndGroupAsync(connection, transaction).ConfigureAwait(false);
        }
    }

    /// <summary>One operation's place in line: the batch it is given, and whether its writes stayed in it.</summary>
    private sealed class Turn
    {
        public readonly TaskCompletionSource<Batch> Granted = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public readonly TaskCompletionSource<bool> Finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>The transaction a batch shares, and its commit.</summary>
    private sealed class Batch(DbConnection connection, DbTransaction transaction) : IIdempotencyTransaction
    {
        public readonly TaskCompletionSource Committed = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Exception? Broken;

        public DbConnection Connection { get; } = connection;

        public DbTransaction Transaction { get; } = transaction;
    }

    /// <summary>
    /// A claim that holds its turn of a batch: the handler writes into the batch's transaction; committing writes the
    /// response, keeps the savepoint and waits for the batch's commit.
    /// </summary>
    private sealed class GroupClaim(ClaimResult result, GroupCommitter owner, Batch batch, Turn turn) : TransactionalClaim(result)
    {
        private bool _ended;

        public override IIdempotencyTransaction? Transaction => _ended ? null : batch;

        public override string? RecoveryPoint => Result.Lease?.RecoveryPoint;

        public override ValueTask<LeaseStatus> CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default)
            => throw new InvalidOperationException(
                "An operation in group commit runs as one transaction; it cannot commit phases. Run operations with recovery points without group commit.");

        public override ValueTask<LeaseStatus> BeginPhaseAsync(CancellationToken cancellationToken = default) => ValueTask.FromResult(LeaseStatus.Ok);

        public override async ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default)
        {
            ArgumentNullException.ThrowIfNull(response);
            if (_ended)
            {
                throw new InvalidOperationException("The claim's turn has already ended.");
            }

            bool written;
            try
            {
                written = await owner._store.WriteResponseAsync(batch.Connection, batch.Transaction, Result.Lease!, response, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await EndAsync(keep: false).ConfigureAwait(false);
                throw;
            }

            if (!written)
            {
                await EndAsync(keep: false).ConfigureAwait(false);
                throw new InvalidOperationException($"The idempotency record '{Result.Lease!.StoreKey}' was changed inside its own transaction; nothing was committed.");
            }

            await EndAsync(keep: true).ConfigureAwait(false);

            // Answered only once the batch is durable; a failed commit fails this operation as if it had failed alone.
            await batch.Committed.Task.ConfigureAwait(false);
        }

        public override ValueTask RollbackAsync(CancellationToken cancellationToken = default) => EndAsync(keep: false);

        protected override ValueTask DisposeAsyncCore() => EndAsync(keep: false);

        private ValueTask EndAsync(bool keep)
        {
            if (_ended)
            {
                return ValueTask.CompletedTask;
            }

            _ended = true;
            return owner.EndTurnAsync(batch, turn, keep);
        }
    }
}
