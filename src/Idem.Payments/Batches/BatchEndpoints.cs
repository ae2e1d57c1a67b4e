using System.Globalization;
using System.Security.Claims;
using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Idem.Payments.Web;
using Idem.Storage;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

namespace Idem.Payments.Batches;

/// <summary>Batches: up to 1,000 transfers of one tenant under one idempotency key, applied all or nothing.</summary>
internal static class BatchEndpoints
{
    // A batch of 1,000 transfers between accounts with the service's ids is about 125 KB of JSON, past the 64 KiB every
    // other endpoint accepts; this leaves room for longer (unknown) ids and bounds what Idem buffers to fingerprint it.
    private const long MaxBodyBytes = 512 * 1024;

    public static IEndpointRouteBuilder MapBatches(this IEndpointRouteBuilder app)
    {
        var batches = app.MapGroup("/v1/batches");
        batches.MapPost("", CreateAsync).RequireLedgerIdempotency(app)
            .WithMetadata(new BodySizeLimit(MaxBodyBytes))
            .WithSummary("Applies 1 to 1,000 transfers all or nothing: 201 with every transfer, or 422 batch-item-failed naming the first item the ledger refused (nothing applied, stored and replayed).")
            .Produces<BatchResponse>(StatusCodes.Status201Created)
            .ProducesProblem(StatusCodes.Status400BadRequest).ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        batches.MapGet("/{id}", GetAsync)
            .WithSummary("Reads an applied batch and its transfers, in the order they were sent.")
            .Produces<BatchResponse>().ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    private static async Task<Results<Created<BatchResponse>, ProblemHttpResult>> CreateAsync(
        CreateBatchRequest request, ClaimsPrincipal user, IIdempotencyContext idem, IIdempotencyTransaction transaction, IPaymentsDatabase database,
        BatchService batches, CancellationToken cancellationToken)
    {
        // Every item is checked for shape before anything is locked or read: a malformed batch is 400 and touches nothing.
        var errors = new RequestErrors();
        var items = ReadItems(request, errors);
        if (errors.Any)
        {
            return Problems.Invalid(errors.ToDictionary());
        }

        var result = await batches.ApplyAsync(database.Join(transaction), Tenants.Of(user), items, Origin.Of(idem), cancellationToken).ConfigureAwait(false);
        if (result.Refused is { } refusal)
        {
            return ItemFailed(refusal, items.Count);
        }

        var batch = result.Applied!;
        return TypedResults.Created($"/v1/batches/{batch.Id}", BatchResponse.From(batch));
    }

    private static async Task<Results<Ok<BatchResponse>, ProblemHttpResult>> GetAsync(
        string id, ClaimsPrincipal user, IPaymentsDatabase database, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var batch = await new BatchRepository(work).FindAsync(Tenants.Of(user), id, cancellationToken).ConfigureAwait(false);
            return batch is null
                ? Problems.Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.BatchNotFound, "Batch not found", $"No batch {id} exists.")
                : TypedResults.Ok(BatchResponse.From(batch));
        }
    }

    /// <summary>
    /// The batch's items by the rules of a single transfer, each member named by its path (<c>transfers[3].amount</c>);
    /// the list itself must hold 1 to <see cref="Batch.MaxItems"/> transfers.
    /// </summary>
    private static List<BatchItem> ReadItems(CreateBatchRequest request, RequestErrors errors)
    {
        var transfers = request.Transfers;
        if (transfers is not { Count: > 0 and <= Batch.MaxItems })
        {
            errors.Add("transfers", transfers is null
                ? string.Create(CultureInfo.InvariantCulture, $"Required: a list of 1 to {Batch.MaxItems} transfers, each {{\"from_account\",\"to_account\",\"amount\",\"currency\"}}.")
                : string.Create(CultureInfo.InvariantCulture, $"Must hold 1 to {Batch.MaxItems} transfers; it holds {transfers.Count}. Send more in further batches."));
            return [];
        }

        var items = new List<BatchItem>(transfers.Count);
        for (var index = 0; index < transfers.Count; index++)
        {
            var path = Path(index);
            if (transfers[index] is not { } transfer)
            {
                errors.Add(path, "Required: a transfer {\"from_account\",\"to_account\",\"amount\",\"currency\"}, not null.");
                continue;
            }

            var (from, to, amount, currency) = errors.Transfer(transfer.FromAccount, transfer.ToAccount, transfer.Amount, transfer.Currency, path + ".");
            if (!errors.Any)
            {
                items.Add(new BatchItem(from, to, amount, currency!));
            }
        }

        return items;
    }

    /// <summary>
    /// 422 <c>batch-item-failed</c>: the first item the ledger refused (<c>failed_item</c>), why (<c>error</c>, the problem
    /// a single transfer would have answered), and how far the batch was checked (<c>items</c>). Nothing was applied.
    /// </summary>
    private static ProblemHttpResult ItemFailed(BatchRefusal refusal, int itemCount)
    {
        var index = refusal.FailedItem;
        var cause = Problems.From(refusal.Error).ProblemDetails;
        var error = new BatchItemError(cause.Type!, cause.Title!, cause.Detail!,
            refusal.Error.Member is { } member ? $"{Path(index)}.{member}" : Path(index));
        var items = new BatchItemResult[itemCount];
        for (var i = 0; i < itemCount; i++)
        {
            items[i] = new BatchItemResult(i, i < index ? BatchItemResult.Valid : i == index ? BatchItemResult.Failed : BatchItemResult.NotChecked);
        }

        return Problems.Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.BatchItemFailed, "Batch item failed",
            string.Create(CultureInfo.InvariantCulture,
                $"{Path(index)} was refused ({cause.Title}), so none of the batch's {itemCount} transfers was applied; 'error' says why, 'items' how far the batch was checked. This answer is kept with the Idempotency-Key: send the corrected batch with a new key."),
            new Dictionary<string, object?> { ["failed_item"] = index, ["error"] = error, ["items"] = items });
    }

    private static string Path(int index) => string.Create(CultureInfo.InvariantCulture, $"transfers[{index}]");

    /// <summary>Raises the request body limit of one endpoint; routing applies it before the body is read.</summary>
    private sealed class BodySizeLimit(long bytes) : IRequestSizeLimitMetadata
    {
        public long? MaxRequestBodySize => bytes;
    }
}
