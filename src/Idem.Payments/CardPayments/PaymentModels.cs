namespace Idem.Payments.CardPayments;

/// <summary>Where a card payment stands. <c>pending</c> from phase one until the processor's answer is recorded.</summary>
internal static class PaymentStatus
{
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    public const string Declined = "declined";
}

/// <summary>A card payment into a merchant (customer-kind) account.</summary>
internal sealed record Payment(
    string Id, string TenantId, string AccountId, long Amount, string Currency, string Source, string Status,
    string IdempotencyKey, string? ChargeId, string? DeclineCode, long Refunded, DateTimeOffset CreatedAt, string? Fingerprint = null)
{
    /// <summary>The request that made the payment, written on its ledger entries.</summary>
    public Accounts.Origin Origin => new(IdempotencyKey, Fingerprint);
}

/// <summary>
/// Where a refund stands. Its money leaves the merchant account in phase one; <c>succeeded</c> once the processor
/// refunded, <c>failed</c> once it refused for good (the money is then back in the merchant account).
/// </summary>
internal static class RefundStatus
{
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
}

/// <summary>A refund of part or all of a succeeded payment.</summary>
internal sealed record Refund(
    string Id, string TenantId, string PaymentId, long Amount, string Currency, string Status, string IdempotencyKey, string? ProcessorRefundId,
    DateTimeOffset CreatedAt, string? Fingerprint = null)
{
    /// <summary>The request that made the refund, written on its ledger entries.</summary>
    public Accounts.Origin Origin => new(IdempotencyKey, Fingerprint);
}
