namespace Idem.Storage;

/// <summary>What a claim found.</summary>
public enum ClaimOutcome
{
    /// <summary>The caller now holds the key and runs the operation.</summary>
    Claimed,

    /// <summary>Another request holds the key and has not finished.</summary>
    InProgress,

    /// <summary>The operation already ran; its response is in <see cref="ClaimResult.Response"/>.</summary>
    Completed,

    /// <summary>The key is bound to a different request fingerprint.</summary>
    Mismatch,
}

/// <summary>The result of <see cref="IIdempotencyStore.TryClaimAsync"/>.</summary>
public readonly struct ClaimResult : IEquatable<ClaimResult>
{
    private ClaimResult(ClaimOutcome outcome, IdempotencyLease? lease, IdempotencyResponse? response, TimeSpan retryAfter, ReadOnlyMemory<byte> memberDigest = default)
    {
        Outcome = outcome;
        Lease = lease;
        Response = response;
        RetryAfter = retryAfter;
        MemberDigest = memberDigest;
    }

    /// <summary>What the claim found.</summary>
    public ClaimOutcome Outcome { get; }

    /// <summary>The lease, when <see cref="Outcome"/> is <see cref="ClaimOutcome.Claimed"/>.</summary>
    public IdempotencyLease? Lease { get; }

    /// <summary>The stored response, when <see cref="Outcome"/> is <see cref="ClaimOutcome.Completed"/>.</summary>
    public IdempotencyResponse? Response { get; }

    /// <summary>For <see cref="ClaimOutcome.InProgress"/>: how long until the current holder's lease ends.</summary>
    public TimeSpan RetryAfter { get; }

    /// <summary>
    /// For <see cref="ClaimOutcome.Mismatch"/>: the member digest stored with the record (the
    /// <see cref="ClaimRequest.MemberDigest"/> of the request that claimed it); empty when it has none.
    /// </summary>
    public ReadOnlyMemory<byte> MemberDigest { get; }

    /// <summary>The caller holds the key.</summary>
    public static ClaimResult Claimed(IdempotencyLease lease) => new(ClaimOutcome.Claimed, lease ?? throw new ArgumentNullException(nameof(lease)), null, default);

    /// <summary>Another request holds the key.</summary>
    public static ClaimResult InProgress(TimeSpan retryAfter) => new(ClaimOutcome.InProgress, null, null, retryAfter < TimeSpan.Zero ? TimeSpan.Zero : retryAfter);

    /// <summary>The operation already completed with this response.</summary>
    public static ClaimResult Completed(IdempotencyResponse response) => new(ClaimOutcome.Completed, null, response ?? throw new ArgumentNullException(nameof(response)), default);

    /// <summary>The key belongs to another request, whose record holds no member digest.</summary>
    public static ClaimResult Mismatch() => new(ClaimOutcome.Mismatch, null, null, default);

    /// <summary>The key belongs to another request, whose record holds <paramref name="memberDigest"/> (empty for none).</summary>
    public static ClaimResult Mismatch(ReadOnlyMemory<byte> memberDigest) => new(ClaimOutcome.Mismatch, null, null, default, memberDigest);

    /// <inheritdoc/>
    public bool Equals(ClaimResult other)
        => Outcome == other.Outcome && Equals(Lease, other.Lease) && ReferenceEquals(Response, other.Response) && RetryAfter == other.RetryAfter
           && MemberDigest.Equals(other.MemberDigest);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is ClaimResult other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Outcome, Lease, Response, RetryAfter);

    /// <summary>Equality.</summary>
    public static bool operator ==(ClaimResult left, ClaimResult right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(ClaimResult left, ClaimResult right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => Outcome.ToString();
}

/// <summary>The result of a conditional step on a lease.</summary>
public enum LeaseStatus
{
    /// <summary>The step took effect.</summary>
    Ok,

    /// <summary>The caller no longer holds the key (its lease expired and was taken over, or the record is gone); nothing was written.</summary>
    LeaseLost,
}
