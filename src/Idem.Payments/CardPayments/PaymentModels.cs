namespace Idem.Payments.CardPayments;

/// <summary>
/// Where a card payment stands. <c>pending</c> from phase one until the processor's answer is recorded. A payment with
/// manual capture is then <c>requires_capture</c> until one capture (<c>capturing</c>, then <c>succeeded</c>) or one
/// cancel (<c>canceling</c>, then <c>canceled</c>) takes it out of that state, or its authorisation <c>expired</c>.
/// </summary>
internal static class PaymentStatus
{
    public const string Pending = "pending";
    public const string Succeeded = "succeeded";
    public const string Declined = "declined";
    public const string RequiresCapture = "requires_capture";
    public const string Capturing = "capturing";
    public const string Canceling = "canceling";
    public const string Canceled = "canceled";
    public const string Expired = "expired";
}

/// <summary>How a payment takes its money: at once (<c>automatic</c>), or authorised now and captured later (<c>manual</c>).</summary>
internal static class CaptureMethods
{
    public const string Automatic = "automatic";
    public const string Manual = "manual";
}

/// <summary>
/// A card payment into a merchant (customer-kind) account. With manual capture, <paramref name="AuthorizationExpiresAt"/>
/// is when the processor's authorisation lapses; the capture or cancel request that took the payment out of
/// <c>requires_capture</c> is recorded by its key and fingerprint, and a capture by the amount it asked for
/// (<paramref name="CaptureAmount"/>). <paramref name="AmountCaptured"/> is what the ledger received: the amount of an
/// automatic payment that succeeded, the captured amount of a manual one, zero otherwise.
/// </summary>
internal sealed record Payment(
    string Id, string TenantId, string AccountId, long Amount, string Currency, string Source, string Status,
    string IdempotencyKey, string? ChargeId, string? DeclineCode, long Refunded, DateTimeOffset CreatedAt, string? Fingerprint = null,
    string CaptureMethod = CaptureMethods.Automatic, long AmountCaptured = 0, DateTimeOffset? AuthorizationExpiresAt = null,
    long? CaptureAmount = null, string? CaptureKey = null, string? CaptureFingerprint = null, string? CancelKey = null, string? CancelFingerprint = null)
{
    /// <summary>The request that made the payment, written on its ledger entries (an automatic payment's).</summary>
    public Accounts.Origin Origin => new(IdempotencyKey, Fingerprint);

    /// <summary>The capture request that took the payment's money, written on its ledger entries (a manual payment's).</summary>
    public Accounts.Origin CaptureOrigin => new(CaptureKey, CaptureFingerprint);

    public bool IsManual => CaptureMethod == CaptureMethods.Manual;

    /// <summary>What a capture may still take: the authorised amount while it awaits capture, nothing otherwise.</summary>
    public long AmountCapturable => Status == PaymentStatus.RequiresCapture ? Amount : 0;
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
