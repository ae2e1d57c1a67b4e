using System.Data.Common;

namespace Idem.Storage;

/// <summary>The connection and transaction a transactional request runs in. Handlers reach it through DI.</summary>
public interface IIdempotencyTransaction
{
    /// <summary>The open connection. Do not close it or open another one for the request's writes.</summary>
    DbConnection Connection { get; }

    /// <summary>The transaction every write of the request must join. Do not commit or roll it back.</summary>
    DbTransaction Transaction { get; }
}

/// <summary>
/// The outcome of a transactional claim. When claimed it owns an open transaction: <see cref="CommitAsync"/> stores the
/// response in it and commits; disposing without committing rolls everything back, the claim included.
/// </summary>
/// <remarks>
/// An operation that must call something outside the database (a payment processor, say) splits its work into atomic
/// phases: <see cref="CommitPhaseAsync"/> commits what the transaction holds so far together with a recovery point and
/// leaves no transaction open while the outside call runs; <see cref="BeginPhaseAsync"/> opens the next one. Once a phase
/// has committed, a rollback no longer forgets the key: it is released to its recovery point, and the request that
/// claims it next starts from <see cref="RecoveryPoint"/>.
/// </remarks>
public abstract class TransactionalClaim : IAsyncDisposable
{
    /// <summary>Creates the claim with its outcome.</summary>
    protected TransactionalClaim(ClaimResult result) => Result = result;

    /// <summary>What the claim found.</summary>
    public ClaimResult Result { get; }

    /// <summary>The open transaction, when <see cref="Result"/> is <see cref="ClaimOutcome.Claimed"/>.</summary>
    public abstract IIdempotencyTransaction? Transaction { get; }

    /// <summary>
    /// Where the operation stands: the recovery point an earlier holder left (see <see cref="IdempotencyLease.RecoveryPoint"/>)
    /// or the last one this claim committed; null when no phase has ever committed.
    /// </summary>
    public abstract string? RecoveryPoint { get; }

    /// <summary>
    /// Writes <paramref name="recoveryPoint"/> into the record and commits the transaction: the writes so far and the point
    /// become durable together, and the key stays claimed (its lease renewed). No transaction is open afterwards until
    /// <see cref="BeginPhaseAsync"/>. Returns <see cref="LeaseStatus.LeaseLost"/>, committing nothing, when the lease was
    /// taken over between phases.
    /// </summary>
    public abstract ValueTask<LeaseStatus> CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens the next phase's transaction after <see cref="CommitPhaseAsync"/>, re-asserting the lease (and renewing it) as
    /// its first statement. Returns <see cref="LeaseStatus.LeaseLost"/>, with no transaction open, when another request took
    /// the key over meanwhile. Does nothing when a transaction is already open.
    /// </summary>
    public abstract ValueTask<LeaseStatus> BeginPhaseAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Writes the response into the transaction and commits the whole unit of work (opening the transaction first when a
    /// phase has just committed). Throws <see cref="IdempotencyLeaseLostException"/> when the lease was taken over between
    /// phases.
    /// </summary>
    public abstract ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default);

    /// <summary>
    /// Rolls back the open transaction. Before any phase committed, the claim goes with it and a retry runs afresh; after
    /// one, the key is released to its recovery point, so a retry resumes there.
    /// </summary>
    public abstract ValueTask RollbackAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the connection; rolls back when neither committed nor rolled back.</summary>
    protected abstract ValueTask DisposeAsyncCore();
}
