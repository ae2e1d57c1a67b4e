using Idem.AspNetCore;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace Idem.Payments.IdempotencyKeys;

/// <summary>
/// <c>GET /v1/idempotency-keys/{key}</c>: what Idem holds for one of the caller's keys (state, times, the stored status),
/// never the stored body. It asks Idem's store for the record under the store key the middleware would have built for
/// this caller on each endpoint that takes keys, so another tenant's key is simply not there (404).
/// </summary>
internal static class IdempotencyKeyEndpoints
{
    public static IEndpointRouteBuilder MapIdempotencyKeys(this IEndpointRouteBuilder app)
    {
        app.MapGet("/v1/idempotency-keys/{key}", GetAsync)
            .WithSummary("Shows the caller's record for an idempotency key, without the stored body.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Ok<IdempotencyKeyResponse>, ProblemHttpResult>> GetAsync(
        string key, HttpContext context, EndpointDataSource endpoints, IIdempotencyScopeResolver scopes, IIdempotencyStore store,
        IOptions<IdempotencyHttpOptions> options, CancellationToken cancellationToken)
    {
        if (IdempotencyKey.Parse(key.AsSpan(), options.Value.MaxKeyLength, out var parsed) != KeyError.None)
        {
            var errors = new RequestErrors();
            errors.Add("key", $"Not an idempotency key: 1-{options.Value.MaxKeyLength} printable ASCII characters.");
            return Problems.Invalid(errors.ToDictionary());
        }

        var newest = await IdempotencyKeyLookup.FindAsync(context, endpoints, scopes, store, parsed!, cancellationToken).ConfigureAwait(false);
        if (newest is not { } found)
        {
            return Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.IdempotencyKeyNotFound, "Idempotency key not found",
                "No request of yours used this key, or its record has expired.");
        }

        var r = found.Record;
        return TypedResults.Ok(new IdempotencyKeyResponse(
            parsed!, found.Method, IdempotencyKeyLookup.DisplayRoute(found.Route), r.State == IdempotencyRecordState.Completed ? "completed" : "in_progress", r.RecoveryPoint,
            r.Response?.StatusCode, r.CreatedAt.UtcDateTime, r.ExpiresAt.UtcDateTime));
    }
}

/// <summary>
/// What Idem holds for one of the tenant's idempotency keys, without the stored body. <c>recovery_point</c> is where a
/// multi-step request got to (e.g. <c>payment_created</c>), null for a request with no phases.
/// </summary>
internal sealed record IdempotencyKeyResponse(
    string Key, string Method, string Route, string State, string? RecoveryPoint, int? ResponseStatus, DateTime CreatedAt, DateTime ExpiresAt);
