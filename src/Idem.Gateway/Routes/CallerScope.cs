using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Idem.Gateway.Routes;

/// <summary>Where a route's caller identity comes from (<c>Idempotency.Scope</c>, default <c>Gateway:Scope</c>).</summary>
internal enum ScopeSource
{
    /// <summary>Every caller shares one scope: only for an upstream with a single client.</summary>
    None,

    /// <summary>A request header's whole value (an API key, a bearer token), hashed.</summary>
    Header,

    /// <summary>The <c>sub</c> claim of the bearer JWT in a header (Authorization by default), read without validating the token, hashed.</summary>
    JwtSubject,

    /// <summary>The TLS client certificate's SHA-256 thumbprint.</summary>
    ClientCertificate,
}

/// <summary>
/// Says who sent a request, as a string that names no secret: a truncated SHA-256 of the header value or of the JWT
/// subject, or the client certificate's thumbprint. Callers who send no identity share the anonymous scope.
/// </summary>
internal sealed record CallerScope(ScopeSource Source, string? HeaderName)
{
    public const string Anonymous = "anonymous";

    /// <summary>The default: the whole <c>Authorization</c> header, hashed.</summary>
    public static CallerScope Default { get; } = new(ScopeSource.Header, "Authorization");

    /// <summary>
    /// Reads <c>None</c>, <c>Header:NAME</c>, <c>JwtSubject</c>, <c>JwtSubject:NAME</c> or <c>ClientCertificate</c>
    /// (case-insensitive names).
    /// </summary>
    public static CallerScope Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        var name = (colon < 0 ? text : text[..colon]).Trim();
        var header = colon < 0 ? null : text[(colon + 1)..].Trim();
        if (!Enum.TryParse<ScopeSource>(name, ignoreCase: true, out var source) || !Enum.IsDefined(source) || char.IsAsciiDigit(name[0]))
        {
            throw new FormatException($"Scope '{text}' is not None, Header:NAME, JwtSubject[:NAME] or ClientCertificate.");
        }

        switch (source)
        {
            case ScopeSource.Header when string.IsNullOrEmpty(header):
                throw new FormatException($"Scope '{text}' names no header: write Header:X-Api-Key, for example.");
            case ScopeSource.None or ScopeSource.ClientCertificate when header is not null:
                throw new FormatException($"Scope '{text}' takes no header name.");
            case ScopeSource.JwtSubject:
                header = string.IsNullOrEmpty(header) ? "Authorization" : header;
                break;
        }

        return new CallerScope(source, header);
    }

    /// <summary>The caller's scope for <paramref name="context"/>.</summary>
    public async ValueTask<string> ResolveAsync(HttpContext context)
    {
        switch (Source)
        {
            case ScopeSource.Header when context.Request.Headers.TryGetValue(HeaderName!, out var value) && !string.IsNullOrEmpty(value):
                return "header:" + Hash(value.ToString());
            case ScopeSource.JwtSubject when context.Request.Headers.TryGetValue(HeaderName!, out var value) && !string.IsNullOrEmpty(value):
                // A token that is not a JWT with a subject still names its sender: its whole value is the scope then.
                return TryReadSubject(value.ToString(), out var subject) ? "sub:" + Hash(subject) : "header:" + Hash(value.ToString());
            case ScopeSource.ClientCertificate:
                var certificate = await context.Connection.GetClientCertificateAsync(context.RequestAborted).ConfigureAwait(false);
                return certificate is null ? Anonymous : "cert:" + certificate.GetCertHashString(HashAlgorithmName.SHA256).ToLowerInvariant();
            default:
                return Anonymous;
        }
    }

    // 128 bits of SHA-256: no collision in practice, and the value (a secret, often) cannot be read back.
    private static string Hash(string value) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value)))[..32];

    /// <summary>The <c>sub</c> claim of a JWT (<c>[Bearer ]header.payload.signature</c>), not validated.</summary>
    internal static bool TryReadSubject(string value, out string subject)
    {
        subject = "";
        var token = value.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase) ? value[7..].Trim() : value.Trim();
        var parts = token.Split('.');
        if (parts.Length != 3 || parts[1].Length == 0 || parts[1].Length > 16 * 1024)
        {
            return false;
        }

        try
        {
            var payload = parts[1].Replace('-', '+').Replace('_', '/');
            payload = payload.PadRight(payload.Length + ((4 - (payload.Length % 4)) % 4), '=');
            using var document = JsonDocument.Parse(Convert.FromBase64String(payload));
            if (document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("sub", out var sub) && sub.ValueKind == JsonValueKind.String && sub.GetString() is { Length: > 0 } s)
            {
                subject = s;
                return true;
            }
        }
        catch (Exception ex) when (ex is FormatException or JsonException)
        {
        }

        return false;
    }
}
