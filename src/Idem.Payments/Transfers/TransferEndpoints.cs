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

        // The same transfer without Idem (its own transaction, no key), for measuring what Idem costs a transfer
        // (docs/benchmarks.md). A benchmark switch, not a product option: nothing keeps a retry from moving money twice.
        if (app.ServiceProvider.GetRequiredService<IConfiguration>().GetValue<bool>("Benchmark:TransfersWithoutIdempotency"))
        {
            transfers.MapPost("", CreateWithoutIdempotencyAsync);
        }
        else
        {
            transfers.MapPost("", CreateAsync).RequireLedgerIdempotency(app);
        }

        transfers.MapGet("/{id}", GetAsync);
        return app;
    }

    private static Task<Results<Created<TransferResponse>, ProblemHttpResult>> CreateAsync(
        CreateTransferRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database, TransferService transfers,
        CancellationToken cancellationToken)
        => TransferAsync(request, user, database.Join(transaction), Origin.Of(idem), transfers, cancellationToken);

    private static async Task<Results<Created<TransferResponse>, ProblemHttpResult>> CreateWithoutIdempotencyAsync(
        CreateTransferRequest request, ClaimsPrincipal user, IPaymentsDatabase database, TransferService transfers, CancellationToken cancellationToken)
    {
        var work = await database.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var result = await TransferAsync(request, user, work, default, transfers, cancellationToken).ConfigureAwait(false);
            if (result.Result is Created<TransferResponse>)
            {
                await work.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            return result;
        }
    }

    private static async Task<Results<Created<TransferResponse>, ProblemHttpResult>> TransferAsync(
        CreateTransferRequest request, ClaimsPrincipal user, UnitOfWork work, Origin origin, TransferService transfers, CancellationToken cancellationToken)
    {
        var errors = new RequestErrors();
        var (from, to, amount, currency) = errors.Transfer(request.FromAccount, request.ToAccount, request.Amount, request.Currency);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var result = await transfers.TransferAsync(work, Tenants.Of(user), from, to, amount, currency!, origin, cancellationToken).ConfigureAwait(false);
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
