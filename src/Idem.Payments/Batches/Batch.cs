using Idem.Payments.Accounts;
using Idem.Payments.Transfers;

namespace Idem.Payments.Batches;

/// <summary>
/// Transfers applied all or nothing under one request. Its transfers are ordinary transfers (the <c>transfers</c> table,
/// with <c>batch_id</c> and <c>batch_index</c>), in the order they were sent: <see cref="Transfers"/>[i] is item i. A
/// refused batch is never written, so every stored one was applied.
/// </summary>
internal sealed record Batch(string Id, string TenantId, DateTimeOffset CreatedAt, IReadOnlyList<Transfer> Transfers)
{
    /// <summary>The prefix of a batch's id (<c>batch_…</c>).</summary>
    public const string IdPrefix = "batch";

    /// <summary>The most transfers one batch may hold (the <c>batches.item_count</c> CHECK says the same).</summary>
    public const int MaxItems = 1_000;
}

/// <summary>Where a batch stands. Only an applied batch is stored.</summary>
internal static class BatchStatus
{
    public const string Applied = "applied";
}

/// <summary>One transfer a batch asks for, its shape already checked; whether the ledger allows it is decided when the batch is applied.</summary>
internal sealed record BatchItem(string FromAccount, string ToAccount, long Amount, Currency Currency);

/// <summary>
/// Why a batch was refused: the first item the ledger refused (its index in the batch) and the refusal, whose
/// <see cref="LedgerError.Member"/> names the item's member (<c>amount</c>, <c>from_account</c>, <c>to_account</c>).
/// </summary>
internal sealed record BatchRefusal(int FailedItem, LedgerError Error);

/// <summary>Either the batch that was applied or the refusal that left everything as it was.</summary>
internal readonly record struct BatchResult(Batch? Applied, BatchRefusal? Refused)
{
    public static implicit operator BatchResult(Batch batch) => new(batch, null);

    public static implicit operator BatchResult(BatchRefusal refusal) => new(null, refusal);
}
