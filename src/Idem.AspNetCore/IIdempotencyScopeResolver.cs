using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore;

/// <summary>
/// Says whose key a request carries. Keys are stored per scope, so two callers sending the same key never see each
/// other's response. Register your own to scope by tenant, account or anything else.
/// </summary>
public interface IIdempotencyScopeResolver
{
    /// <summary>Returns the caller's scope: a stable, non-secret string.</summary>
    ValueTask<string> ResolveAsync(HttpContext context);
}
