using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore;

/// <summary>
/// Lets code that runs under a claimed key (a handler, a middleware, a reverse proxy) tell the idempotency middleware what
/// became of the request when the response's status code cannot: by default a 2xx-4xx response is stored and a 5xx
/// releases the key (BEHAVIOUR §5).
/// </summary>
public static class IdempotencyHttpContextExtensions
{
    /// <summary>
    /// Says that the request's outcome is unknown: it may have taken effect or not (a call to another service timed out,
    /// or its connection dropped after the request was sent). Its response (an error saying so) goes to the client but is
    /// not stored, and the key is not released: it stays in progress until its lease ends, so retries with it are refused
    /// with 409 until then and the next one after it runs again (see <see cref="OperationResult.Abandon"/>). In
    /// transactional mode the request's writes roll back with its claim, so the key is released.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <returns>True when the request runs under a claimed key; false when Idem does not guard it (no policy, no key).</returns>
    public static bool AbandonIdempotencyKey(this HttpContext context) => Mark(context, KeyDisposition.Abandon);

    /// <summary>
    /// Says that the request had no effect, whatever its response's status code (a proxy that could not connect to its
    /// upstream, say): the response goes to the client, is not stored, and the key is released so a retry runs afresh.
    /// </summary>
    /// <param name="context">The request.</param>
    /// <returns>True when the request runs under a claimed key; false when Idem does not guard it (no policy, no key).</returns>
    public static bool ReleaseIdempotencyKey(this HttpContext context) => Mark(context, KeyDisposition.Release);

    private static bool Mark(HttpContext context, KeyDisposition disposition)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (context.Features.Get<IdempotentRequest>() is not { } request)
        {
            return false;
        }

        request.Disposition = disposition;
        return true;
    }
}
