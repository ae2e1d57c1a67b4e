using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;

namespace Idem.Payments.Auth;

/// <summary>
/// A tenant is named by its API key: any non-empty key is a tenant of its own. Only a hash of the key is ever kept,
/// so neither the database nor Idem's key table holds a secret.
/// </summary>
internal static class Tenants
{
    private const string Prefix = "ten_";

    /// <summary>The tenant id for an API key: the first 128 bits of its SHA-256, in hex.</summary>
    public static string FromApiKey(string apiKey)
    {
        Span<byte> hash = stackalloc byte[SHA256.HashSizeInBytes];
        SHA256.HashData(Encoding.UTF8.GetBytes(apiKey), hash);
        return Prefix + Convert.ToHexStringLower(hash[..16]);
    }

    /// <summary>The authenticated caller's tenant id. Every endpoint but health requires authentication, so it is always there.</summary>
    public static string Of(ClaimsPrincipal user)
        => user.FindFirstValue(ClaimTypes.NameIdentifier) ?? throw new InvalidOperationException("The request is not authenticated.");
}
