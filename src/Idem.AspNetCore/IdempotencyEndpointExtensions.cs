using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Idem.AspNetCore;

/// <summary>
/// Idem's view of an endpoint, for code that looks records up through <see cref="Storage.IIdempotencyStore.GetAsync"/>
/// (an operations page, a "show my key" endpoint): with these and the scope resolver, a record's key is
/// <c>StoreKey.Create(await scopes.ResolveAsync(context), method, endpoint.GetIdempotencyRouteTemplate(), key)</c>,
/// exactly as the middleware built it.
/// </summary>
public static class IdempotencyEndpointExtensions
{
    /// <summary>The policy Idem applies to requests with <paramref name="method"/> on this endpoint, or null when it leaves them alone.</summary>
    public static IdempotencyPolicy? GetIdempotencyPolicy(this Endpoint endpoint, string method)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentNullException.ThrowIfNull(method);
        var policy = endpoint.Metadata.GetMetadata<IIdempotencyMetadata>()?.Policy;
        return policy is not null && policy.AppliesTo(method) ? policy : null;
    }

    /// <summary>
    /// The route template Idem puts in the store key of this endpoint's requests, or null for an endpoint without one
    /// (not routed by a pattern), whose requests are keyed by their path instead.
    /// </summary>
    public static string? GetIdempotencyRouteTemplate(this Endpoint endpoint)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        return (endpoint as RouteEndpoint)?.RoutePattern.RawText;
    }
}
