namespace Idem.Storage;

/// <summary>What a claim asks for.</summary>
/// <param name="StoreKey">The full store key (see <see cref="Idem.StoreKey"/>).</param>
/// <param name="Fingerprint">The request fingerprint, a lowercase hex SHA-256.</param>
/// <param name="LeaseDuration">How long the claim holds the key before another request may take it over.</param>
/// <param name="Retention">How long the completed record is kept.</param>
public readonly record struct ClaimRequest(string StoreKey, string Fingerprint, TimeSpan LeaseDuration, TimeSpan Retention);
