
namespace Idem.Payments.CardPayments;

// Card payments and refunds on the wire (snake_case through PaymentsJsonContext).

/// <summary>A payment to make; <paramref name="Capture"/> <c>false</c> only authorises it, for a later capture (absent or null: <c>true</c>).</summary>
internal sealed record CreatePaymentRequest(long? Amount, string? Currency, string? Source, string? Account, bool? Capture = null);

internal sealed record CreateRefundRequest(long? Amount);

/// <summary>
/// A card payment: <c>status</c> is <c>pending</c> while its outcome is being settled, then <c>succeeded</c> or
/// <c>declined</c>; with <c>capture</c> false, <c>requires_capture</c> (until <c>authorization_expires_at</c>), then
/// <c>succeeded</c>, <c>canceled</c> or <c>expired</c> (<c>capturing</c> and <c>canceling</c> while the processor is asked).
/// </summary>
internal sealed record PaymentResponse(
    string Id, string Account, long Amount, string Currency, string Source, string Status, string? Charge, string? DeclineCode, long AmountRefunded, DateTime CreatedAt,
    bool Capture, long AmountCapturable, long AmountCaptured, DateTime? AuthorizationExpiresAt)
{
    public static PaymentResponse From(Payment payment)
        => new(payment.Id, payment.AccountId, payment.Amount, payment.Currency, payment.Source, payment.Status, payment.ChargeId, payment.DeclineCode, payment.Refunded,
            payment.CreatedAt.UtcDateTime, !payment.IsManual, payment.AmountCapturable, payment.AmountCaptured, payment.AuthorizationExpiresAt?.UtcDateTime);
}

/// <summary>A capture of an authorised payment: <paramref name="Amount"/> of it, or all of it when absent.</summary>
internal sealed record CapturePaymentRequest(long? Amount);

/// <summary>
/// A cancel takes no parameters. Its body may be absent or an empty object; a member in it is refused (400), like any
/// unknown member, rather than ignored.
/// </summary>
internal sealed record CancelPaymentRequest;

/// <summary>A refund: <c>pending</c> while the processor is being reached, then <c>succeeded</c>, or <c>failed</c> when it refused.</summary>
internal sealed record RefundResponse(string Id, string Payment, long Amount, string Currency, string Status, DateTime CreatedAt)
{
    public static RefundResponse From(Refund refund)
        => new(refund.Id, refund.PaymentId, refund.Amount, refund.Currency, refund.Status, refund.CreatedAt.UtcDateTime);
}

internal sealed record RefundListResponse(IReadOnlyList<RefundResponse> Data);

/// <summary>One invariant of the ledger and whether it holds; <c>failures</c> names what breaks it.</summary>
internal sealed record AuditCheck(string Name, bool Ok, string Description, IReadOnlyList<string> Failures);

/// <summary>
/// The audit of the tenant's ledger: <c>ok</c> when every check holds. <c>unsettled</c> counts payments and refunds
/// still pending (their outcome is being settled), which are not failures.
/// </summary>
internal sealed record AuditResponse(bool Ok, IReadOnlyList<AuditCheck> Checks, int UnsettledPayments, int UnsettledRefunds);
