namespace Idem.Storage;

/// <summary>What a claim asks for.</summary>
/// <param name="StoreKey">The full store key (see <see cref="Idem.StoreKey"/>).</param>
/// <param name="Fingerprint">The request fingerprint, a lowercase hex SHA-256.</param>
/// <param name="LeaseDuration">How long the claim holds the key before another request may take it over.</param>
/// <param name="Retention">How long the completed record is kept.</param>
public readonly record struct ClaimRequest(string StoreKey, string Fingerprint, TimeSpan LeaseDuration, TimeSpan Retention)
{
    private readonly ReadOnlyMemory<byte> _memberDigest;
    private readonly Idem.MemberDigest? _members;

    /// <summary>
    /// The request's member digest (see <see cref="Idem.MemberDigest"/>): opaque bytes, at most 8 KiB, that a claim which
    /// writes the record (a new key, one past its retention, or a takeover) stores beside the fingerprint in place of any
    /// there, and that <see cref="ClaimResult.Mismatch(ReadOnlyMemory{byte})"/> hands back to a request with another
    /// fingerprint. Empty when the request has none; store nothing then.
    /// </summary>
    /// <remarks>
    /// The engine's digest hashes the request's members on first read, so a store that can tell without it that the claim
    /// does not write (a replay) should not read it; and it should read it before taking a lock.
    /// </remarks>
    public ReadOnlyMemory<byte> MemberDigest
    {
        get => _members is { } members ? members.Encode(StoreKey) : _memberDigest;
        init
        {
            _memberDigest = value;
            _members = null;
        }
    }

    /// <summary>The engine's digest, hashed when <see cref="MemberDigest"/> is first read.</summary>
    internal Idem.MemberDigest? Members
    {
        get => _members;
        init
        {
            _members = value;
            _memberDigest = default;
        }
    }

    /// <summary>Whether reading <see cref="MemberDigest"/> would hash.</summary>
    internal bool MemberDigestPending => _members is { } members && members.IsPending(StoreKey);

    /// <summary>
    /// Throws unless a store can take the request: a store key and a fingerprint that are not empty, a lease longer than
    /// zero and a retention that is not negative. Every store checks this before it claims.
    /// </summary>
    /// <param name="request">The request to check.</param>
    public static void ThrowIfInvalid(ClaimRequest request)
    {
        ArgumentException.ThrowIfNullOrEmpty(request.StoreKey, nameof(request));
        ArgumentException.ThrowIfNullOrEmpty(request.Fingerprint, nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(request.LeaseDuration, TimeSpan.Zero, nameof(request));
        ArgumentOutOfRangeException.ThrowIfLessThan(request.Retention, TimeSpan.Zero, nameof(request));
    }
}
