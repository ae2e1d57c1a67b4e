namespace Idem.Storage;

/// <summary>
/// Proof that one request holds a key. Every conditional step (complete, release, renew) names the owner token,
/// so a request whose lease was taken over can never overwrite the new owner's record.
/// </summary>
/// <param name="StoreKey">The full store key.</param>
/// <param name="OwnerToken">A random token unique to this claim.</param>
/// <param name="Retention">How long the completed record is kept, counted from completion.</param>
/// <param name="LeaseDuration">How long the lease lasts from each claim or renewal.</param>
public sealed record IdempotencyLease(string StoreKey, string OwnerToken, TimeSpan Retention, TimeSpan LeaseDuration)
{
    /// <summary>
    /// Where an earlier holder of the key left off, when this lease took over a record it had parked at a recovery point
    /// (see <see cref="IIdempotencyStore.SetRecoveryPointAsync"/>); null for a key claimed afresh.
    /// </summary>
    public string? RecoveryPoint { get; init; }
}
