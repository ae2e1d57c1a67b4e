
namespace Idem.Payments.CardPayments;

// Card payments and refunds on the wire (snake_case through PaymentsJsonContext).

internal sealed record CreatePaymentRequest(long? Amount, string? Currency, string? Source, string? Account);

internal sealed record CreateRefundRequest(long? Amount);

/// <summary>A card payment: <c>status</c> is <c>pending</c> while its outcome is being settled, then <c>succeeded</c> or <c>declined</c>.</summary>
internal sealed record PaymentResponse(
    string Id, string Account, long Amount, string Currency, string Source, string Status, string? Charge, string? DeclineCode, long AmountRefunded, DateTime CreatedAt)
{
    public static PaymentResponse From(Payment payment)
        => new(payment.Id, payment.AccountId, payment.Amount, payment.Currency, payment.Source, payment.Status, payment.ChargeId, payment.DeclineCode, payment.Refunded,
            payment.CreatedAt.UtcDateTime);
}

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
