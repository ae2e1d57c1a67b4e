namespace Idem.Storage;

/// <summary>The state of a stored idempotency record.</summary>
public enum IdempotencyRecordState
{
    /// <summary>A request holds the key under a lease and has not finished.</summary>
    InProgress = 0,

    /// <summary>The request finished; its response is stored for replay.</summary>
    Completed = 1,
}

/// <summary>A stored record, as <see cref="IIdempotencyStore.GetAsync"/> returns it (operations and admin use).</summary>
public sealed class IdempotencyRecord
{
    /// <summary>The full store key: scope, method, route and client key.</summary>
    public required string StoreKey { get; init; }

    /// <summary>The request fingerprint the key is bound to.</summary>
    public required string Fingerprint { get; init; }

    /// <summary>In progress or completed.</summary>
    public required IdempotencyRecordState State { get; init; }

    /// <summary>When the record was first claimed (store clock).</summary>
    public required DateTimeOffset CreatedAt { get; init; }

    /// <summary>When the record stops counting and the key may be used afresh (store clock).</summary>
    public required DateTimeOffset ExpiresAt { get; init; }

    /// <summary>When the current lease ends, for an in-progress record.</summary>
    public DateTimeOffset? LeaseExpiresAt { get; init; }

    /// <summary>The last recovery point the operation recorded, if it recorded any (see <see cref="IIdempotencyStore.SetRecoveryPointAsync"/>).</summary>
    public string? RecoveryPoint { get; init; }

    /// <summary>The member digest stored with the claim (see <see cref="ClaimRequest.MemberDigest"/>); empty when none.</summary>
    public ReadOnlyMemory<byte> MemberDigest { get; init; }

    /// <summary>The stored response, for a completed record.</summary>
    public IdempotencyResponse? Response { get; init; }
}
