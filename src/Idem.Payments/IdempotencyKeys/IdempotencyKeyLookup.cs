using Idem.AspNetCore;
using Idem.Storage;

namespace Idem.Payments.IdempotencyKeys;

/// <summary>
/// Finds the caller's record for a client key, as <c>GET /v1/idempotency-keys/{key}</c> and the console show it. A key
/// is stored per endpoint (scope / method / route / key): it asks Idem's store on each endpoint that takes keys, under
/// the store key the middleware would have built for this caller, and keeps the newest record, should the caller have
/// used one key on several. Another tenant's key is simply not there.
/// </summary>
internal static class IdempotencyKeyLookup
{
    public static async Task<(string Method, string Route, IdempotencyRecord Record)?> FindAsync(
        HttpContext context, EndpointDataSource endpoints, IIdempotencyScopeResolver scopes, IIdempotencyStore store, string key, CancellationToken cancellationToken)
    {
        var scope = await scopes.ResolveAsync(context).ConfigureAwait(false);
        (string Method, string Route, IdempotencyRecord Record)? newest = null;
        foreach (var (method, route) in KeyedOperations(endpoints))
        {
            var record = await store.GetAsync(StoreKey.Create(scope, method, route, key), cancellationToken).ConfigureAwait(false);
            if (record is not null && (newest is null || record.CreatedAt > newest.Value.Record.CreatedAt))
            {
                newest = (method, route, record);
            }
        }

        return newest;
    }

    /// <summary>A group's own endpoint (<c>"/v1/transfers" + ""</c>) has the template <c>/v1/transfers/</c>; clients know it without the slash.</summary>
    public static string DisplayRoute(string template) => template.Length > 1 ? template.TrimEnd('/') : template;

    private static IEnumerable<(string Method, string Route)> KeyedOperations(EndpointDataSource endpoints)
    {
        foreach (var endpoint in endpoints.Endpoints)
        {
            if (endpoint.GetIdempotencyRouteTemplate() is not { } route || endpoint.Metadata.GetMetadata<HttpMethodMetadata>() is not { } methods)
            {
                continue;
            }

            foreach (var method in methods.HttpMethods)
            {
                if (endpoint.GetIdempotencyPolicy(method) is not null)
                {
                    yield return (method, route);
                }
            }
        }
    }
}
