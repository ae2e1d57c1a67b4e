namespace Idem.Storage;

/// <summary>Owner tokens for leases, for store authors.</summary>
public static class OwnerToken
{
    /// <summary>
    /// A new token: 128 random bits as 32 lowercase hex characters. A token only has to be unique among the claims of one
    /// key, and it is never shown to clients, so it needs no cryptographic generator: it comes from
    /// <see cref="Random.Shared"/> (seeded from the operating system per thread), with no system call per claim, where a
    /// <see cref="Guid.NewGuid"/> asks the kernel for random bytes every time.
    /// </summary>
    public static string New() => New(out _);

    /// <summary>A new token, and its 128 bits as they are before formatting (the hex text is these bytes in memory order).</summary>
    internal static string New(out UInt128 raw)
    {
        raw = default;
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new Span<UInt128>(ref raw));
        Random.Shared.NextBytes(bytes);
        return Convert.ToHexStringLower(bytes);
    }
}
