using Idem.Payments.Transfers;

namespace Idem.Payments.Batches;

// Batches on the wire (snake_case through PaymentsJsonContext).

/// <summary>The body of <c>POST /v1/batches</c>: 1 to 1,000 transfers, each as the body of <c>POST /v1/transfers</c>.</summary>
internal sealed record CreateBatchRequest(IReadOnlyList<CreateTransferRequest?>? Transfers);

/// <summary>An applied batch: its transfers in the order they were sent, <c>index</c> being each one's place in the request.</summary>
internal sealed record BatchResponse(string Id, string Status, IReadOnlyList<BatchTransferResponse> Transfers, DateTime CreatedAt)
{
    public static BatchResponse From(Batch batch)
        => new(batch.Id, BatchStatus.Applied,
            [.. batch.Transfers.Select((t, index) => new BatchTransferResponse(index, t.Id, t.FromAccountId, t.ToAccountId, t.Amount, t.Currency))],
            batch.CreatedAt.UtcDateTime);
}

internal sealed record BatchTransferResponse(int Index, string Id, string FromAccount, string ToAccount, long Amount, string Currency);

/// <summary>
/// The <c>error</c> of a 422 <c>batch-item-failed</c>: why the failing item was refused, as the problem a single transfer
/// would have answered (<c>type</c>, <c>title</c>, <c>detail</c>), and <c>param</c>, the item's member it is about
/// (<c>transfers[3].amount</c>).
/// </summary>
internal sealed record BatchItemError(string Type, string Title, string Detail, string Param);

/// <summary>
/// One entry of the <c>items</c> of a 422 <c>batch-item-failed</c>: <c>valid</c> (checked, and it would have applied
/// after the items before it), <c>failed</c> (the first the ledger refused) or <c>not_checked</c> (after the failure).
/// </summary>
internal sealed record BatchItemResult(int Index, string Status)
{
    public const string Valid = "valid";
    public const string Failed = "failed";
    public const string NotChecked = "not_checked";
}
