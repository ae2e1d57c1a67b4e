namespace Idem.Storage;

/// <summary>What a claim asks for.</summary>
/// <param name="StoreKey">The full store key (see <see cref="Idem.StoreKey"/>).</param>
/// <param name="Fingerprint">The request fingerprint, a lowercase hex SHA-256.</param>
/// <param name="LeaseDuration">How long the claim holds the key before another request may take it over.</param>
/// <param name="Retention">How long the completed record is kept.</param>
public readonly record struct ClaimRequest(string StoreKey, string Fingerprint, TimeSpan LeaseDuration, TimeSpan Retention)
{
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
