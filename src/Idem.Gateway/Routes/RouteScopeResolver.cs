using System.Globalization;
using Idem.AspNetCore;
using Microsoft.AspNetCore.Http;

namespace Idem.Gateway.Routes;

/// <summary>
/// The gateway's <see cref="IIdempotencyScopeResolver"/>: the route's id and the caller (<see cref="CallerScope"/>),
/// from the metadata the route's endpoint carries. Two routes, or two callers, never share a record, even where two
/// routes have the same path pattern (told apart by host or header).
/// </summary>
internal sealed class RouteScopeResolver : IIdempotencyScopeResolver
{
    public async ValueTask<string> ResolveAsync(HttpContext context)
    {
        // Only the gateway's own endpoints carry a policy, and each of them a RoutePolicy.
        var policy = context.GetEndpoint()?.Metadata.GetMetadata<RoutePolicy>()
            ?? throw new InvalidOperationException("A guarded endpoint has no route policy: only proxied routes are guarded.");
        var caller = await policy.Scope.ResolveAsync(context).ConfigureAwait(false);
        return string.Create(CultureInfo.InvariantCulture, $"{policy.RouteId.Length}:{policy.RouteId}|{caller}");
    }
}
