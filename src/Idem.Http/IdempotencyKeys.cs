using System.Buffers.Text;
using System.Security.Cryptography;

namespace Idem.Http;

/// <summary>Makes idempotency keys the way <see cref="IdempotentRetryHandler"/> does when the caller sets none.</summary>
public static class IdempotencyKeys
{
    /// <summary>
    /// A new key: 128 random bits from a cryptographic source, base64url-encoded (22 characters of <c>A–Z a–z 0–9 - _</c>).
    /// Make it once per logical operation, before the first attempt; store it with the operation if the caller itself may
    /// crash and try again.
    /// </summary>
    public static string New()
    {
        Span<byte> bytes = stackalloc byte[16];
        RandomNumberGenerator.Fill(bytes);
        return Base64Url.EncodeToString(bytes);
    }

    /// <summary>Whether a key can be sent as it is: 1–255 printable ASCII characters, without <c>"</c> or <c>,</c>.</summary>
    internal static bool IsValid(string? key)
        => key is not null && IdempotencyKey.Parse(key.AsSpan(), IdempotencyKey.DefaultMaxLength, out var parsed) == KeyError.None && parsed == key;
}
