using System.Security.Claims;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Transfers;

/// <summary>Transfers between two accounts of one tenant.</summary>
internal static class TransferEndpoints
{
    public static IEndpointRouteBuilder MapTransfers(this IEndpointRouteBuilder app)
    {
        var transfers = app.MapGroup("/v1/transfers");
        transfers.MapPost("", CreateAsync).RequireLedgerIdempotency(app);
        transfers.MapGet("/{id}", GetAsync);
        return app;
    }

    private static async Task<Results<Created<TransferResponse>, ProblemHttpResult>> CreateAsync(
        CreateTransferRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database, TransferService transfers,
        CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var from = errors.Required(request.FromAccount, "from_account", "the id of the account to debit");
        var to = errors.Required(request.ToAccount, "to_account", "the id of the account to credit");
        var amount = errors.Amount(request.Amount);
        errors.Currency(request.Currency, out var currency);
        if (from.Length > 0 && string.Equals(from, to, StringComparison.Ordinal))
        {
            errors.Add("to_account", "Must differ from from_account: a transfer to the same account moves nothing.");
        }

        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var result = await transfers.TransferAsync(database.Join(transaction), Tenants.Of(user), from, to, amount, currency!, Origin.Of(idem), cancellationToken).ConfigureAwait(false);
        if (result.Error is { } error)
        {
            return Problems.From(error);
        }

        var transfer = result.Value!;
        return TypedResults.Created($"/v1/transfers/{transfer.Id}", TransferResponse.From(transfer));
    }

    private static async Task<Results<Ok<TransferResponse>, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var transfer = await new TransferRepository(work).FindAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            return transfer is null
                ? Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.TransferNotFound, "Transfer not found", $"No transfer {id} exists.")
                : TypedResults.Ok(TransferResponse.From(transfer));
        }
    }
}
