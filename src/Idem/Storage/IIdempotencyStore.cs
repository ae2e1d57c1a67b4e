namespace Idem.Storage;

/// <summary>
/// Where idempotency records live. Each method is one atomic step on the store (a unique insert, a script, a
/// conditional update), never "read, then write". Every implementation passes the conformance suite.
/// </summary>
public interface IIdempotencyStore
{
    /// <summary>
    /// Claims a key for one request. Returns <see cref="ClaimOutcome.Claimed"/> with a lease when the key is new, past its
    /// retention, or held by an expired lease for the same fingerprint (a takeover: the lease then carries the record's
    /// <see cref="IdempotencyLease.RecoveryPoint"/>, so the new holder resumes where the last one stopped); otherwise says
    /// what holds it.
    /// </summary>
    ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default);

    /// <summary>Stores the response and marks the record completed, if <paramref name="lease"/> still holds the key.</summary>
    ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default);

    /// <summary>
    /// Gives the key up so a retry can run, if <paramref name="lease"/> still holds it: the in-progress record is deleted,
    /// or, when it has a recovery point, kept at that point with its lease ended, so the next claim with the same
    /// fingerprint takes it over at once and resumes from there.
    /// </summary>
    ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default);

    /// <summary>
    /// Records that the operation holding <paramref name="lease"/> reached <paramref name="recoveryPoint"/> (a name the
    /// operation chooses, such as <c>payment_created</c>), and extends the lease by its duration from now. From then on,
    /// a failure neither forgets the key nor completes it: a release, a crash or an expired lease leaves the record at this
    /// point, and the request that takes it over gets the point in <see cref="IdempotencyLease.RecoveryPoint"/>.
    /// </summary>
    ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default);

    /// <summary>Extends the lease by its duration from now, if <paramref name="lease"/> still holds the key.</summary>
    ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default);

    /// <summary>Reads a record as it is, or null when there is none or it is past its retention.</summary>
    ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default);

    /// <summary>
    /// Deletes up to <paramref name="batchSize"/> records whose retention ended before <paramref name="expiredBefore"/>;
    /// never an in-progress record whose lease is still running. Returns how many were deleted.
    /// </summary>
    ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default);
}

/// <summary>
/// A store that can claim a key inside a database transaction, so the claim, the handler's own writes and the stored
/// response commit together (BEHAVIOUR §7).
/// </summary>
public interface ITransactionalIdempotencyStore : IIdempotencyStore
{
    /// <summary>
    /// Opens a connection and a transaction and claims the key inside it. When the result is
    /// <see cref="ClaimOutcome.Claimed"/>, the returned scope holds the open transaction; otherwise it holds nothing and
    /// only reports the outcome. A concurrent duplicate waits for the first transaction and then sees its outcome.
    /// </summary>
    ValueTask<TransactionalClaim> BeginTransactionalAsync(ClaimRequest request, CancellationToken cancellationToken = default);
}
