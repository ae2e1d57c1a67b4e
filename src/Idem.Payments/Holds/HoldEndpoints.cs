using System.Globalization;
using System.Security.Claims;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Holds;

/// <summary>Holds: two-phase transfers between two accounts of one tenant. Every POST is keyed and transactional.</summary>
internal static class HoldEndpoints
{
    public static IEndpointRouteBuilder MapHolds(this IEndpointRouteBuilder app)
    {
        var holds = app.MapGroup("/v1/holds");
        holds.MapPost("", CreateAsync).RequireLedgerIdempotency(app)
            .WithSummary("Reserves an amount on one account for another until it is captured, voided or expires (expires_in seconds; one day by default).")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        holds.MapGet("/{id}", GetAsync)
            .WithSummary("Reads a hold.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        holds.MapPost("/{id}/capture", CaptureAsync).RequireLedgerIdempotency(app)
            .WithSummary("Moves all of a pending hold, or part (amount), to its receiving account and releases the rest: 200, 409 when it is no longer pending, 422 above the hold.")
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType).ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        holds.MapPost("/{id}/void", VoidAsync).RequireLedgerIdempotency(app)
            .WithSummary("Releases a pending hold without moving anything: 200, 409 when it is no longer pending.")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status409Conflict).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Created<HoldResponse>, ProblemHttpResult>> CreateAsync(
        CreateHoldRequest request, ClaimsPrincipal user, IIdempotencyTransaction transaction, IPaymentsDatabase database, HoldService holds,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var (from, to, amount, currency) = errors.Transfer(request.FromAccount, request.ToAccount, request.Amount, request.Currency, movement: "hold");

        var lifetime = HoldService.DefaultLifetime;
        if (request.ExpiresIn is { } seconds)
        {
            if (seconds < 1 || seconds > HoldService.MaxLifetime.TotalSeconds)
            {
                errors.Add("expires_in", string.Create(CultureInfo.InvariantCulture, $"Must be a number of seconds from 1 to {HoldService.MaxLifetime.TotalSeconds} (30 days)."));
            }
            else
            {
                lifetime = TimeSpan.FromSeconds(seconds);
            }
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var result = await holds.CreateAsync(database.Join(transaction), Tenants.Of(user), from, to, amount, currency!, lifetime, cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            return Problems.From(error);
        }

        var hold = result.Value!;
        return TypedResults.Created($"/v1/holds/{hold.Id}", HoldResponse.From(hold));
    }

    private static async Task<Results<Ok<HoldResponse>, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var hold = await new HoldRepository(work).FindAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            return hold is null ? NotFound(id) : TypedResults.Ok(HoldResponse.From(hold));
        }
    }

    private static async Task<Results<Ok<HoldResponse>, ProblemHttpResult>> CaptureAsync(
        string id, CaptureHoldRequest? request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        HoldService holds, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        long? amount = request?.Amount is null ? null : errors.Amount(request.Amount);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        return Answer(await holds.CaptureAsync(database.Join(transaction), Tenants.Of(user), id, amount, Origin.Of(idem), cancellationToken).ConfigureAwait(false));
    }

    private static async Task<Results<Ok<HoldResponse>, ProblemHttpResult>> VoidAsync(
        string id, ClaimsPrincipal user, IIdempotencyTransaction transaction, IPaymentsDatabase database, HoldService holds, CancellationToken cancellationToken)
        => Answer(await holds.VoidAsync(database.Join(transaction), Tenants.Of(user), id, cancellationToken).ConfigureAwait(false));

    private static Results<Ok<HoldResponse>, ProblemHttpResult> Answer(HoldResult result)
    {
        if (result.Error is not { } error)
        {
            return TypedResults.Ok(HoldResponse.From(result.Value!));
        }

        var extensions = error.Hold is { } hold ? new Dictionary<string, object?> { ["hold_status"] = hold.Status } : null;
        return error.Kind switch
        {
            HoldErrorKind.NotFound => Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.HoldNotFound, "Hold not found", error.Detail),
            HoldErrorKind.NotPending => Problems.Create(StatusCodes.Status409Conflict, PaymentsProblemTypes.HoldNotPending, "Hold not pending", error.Detail, extensions),
            _ => Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.CaptureExceedsHold, "Capture exceeds hold", error.Detail,
                new Dictionary<string, object?> { ["param"] = "amount" }),
        };
    }

    private static ProblemHttpResult NotFound(string id)
        => Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.HoldNotFound, "Hold not found", $"No hold {id} exists.");
}
