namespace Idem.Storage;

/// <summary>Owner tokens for leases, for store authors.</summary>
public static class OwnerToken
{
    /// <summary>
    /// A new token: 122 random bits as 32 hex characters. A token only has to be unique among the claims of one key; it
    /// is never shown to clients, so it needs no cryptographic generator (which costs a call into OpenSSL per claim).
    /// </summary>
    public static string New() => Guid.NewGuid().ToString("N");
}
