using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.Extensions.Options;

namespace Idem.AspNetCore;

/// <summary>
/// The authenticated principal's name identifier; else, when configured, a hash of the API-key header (so no secret is
/// stored); else one anonymous scope.
/// </summary>
internal sealed class DefaultScopeResolver(IOptions<IdempotencyHttpOptions> options) : IIdempotencyScopeResolver
{
    private static readonly ValueTask<string> Anonymous = new("anonymous");

    public ValueTask<string> ResolveAsync(HttpContext context)
    {
        // Read through the feature: HttpContext.User makes an empty principal (two objects) when nobody signed in.
        var user = context.Features.Get<IHttpAuthenticationFeature>()?.User;
        if (user?.Identity?.IsAuthenticated == true)
        {
            var id = user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue("sub") ?? user.Identity.Name;
            if (!string.IsNullOrEmpty(id))
            {
                return new("user:" + id);
            }
        }

        var header = options.Value.ScopeHeaderName;
        if (header is not null && context.Request.Headers.TryGetValue(header, out var apiKey) && !string.IsNullOrEmpty(apiKey))
        {
            return new("key:" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(apiKey.ToString())))[..32]);
        }

        return Anonymous;
    }
}
