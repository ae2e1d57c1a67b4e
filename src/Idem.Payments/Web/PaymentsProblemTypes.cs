namespace Idem.Payments.Web;

/// <summary>
/// The <c>type</c> of each problem+json the service answers with (RFC 9457), one per situation so clients can branch
/// on it. Idem's own problems (missing or reused key, request in progress) keep their <c>urn:idem:problem:</c> types.
/// </summary>
internal static class PaymentsProblemTypes
{
    private const string Prefix = "urn:idem:payments:problem:";

    /// <summary>400: the body is not JSON, or its members have the wrong types, or are unknown. Nothing ran.</summary>
    public const string MalformedRequest = Prefix + "malformed-request";

    /// <summary>400: well-formed, but a member is missing or out of range; <c>errors</c> says which.</summary>
    public const string InvalidRequest = Prefix + "invalid-request";

    /// <summary>415: the body is not sent as <c>application/json</c>. Nothing ran.</summary>
    public const string UnsupportedMediaType = Prefix + "unsupported-media-type";

    /// <summary>404 or 405: no endpoint has this path, or not for this method.</summary>
    public const string NoSuchEndpoint = Prefix + "no-such-endpoint";

    /// <summary>401: no API key, or an empty one.</summary>
    public const string Unauthenticated = Prefix + "unauthenticated";

    /// <summary>404: no such account for this tenant.</summary>
    public const string AccountNotFound = Prefix + "account-not-found";

    /// <summary>404: no such transfer for this tenant.</summary>
    public const string TransferNotFound = Prefix + "transfer-not-found";

    /// <summary>404: no customer with this id for this tenant.</summary>
    public const string CustomerNotFound = Prefix + "customer-not-found";

    /// <summary>404: the tenant has no record for this idempotency key (never used, or past its retention).</summary>
    public const string IdempotencyKeyNotFound = Prefix + "idempotency-key-not-found";

    /// <summary>428: the change needs <c>If-Match</c> with the resource's current <c>ETag</c>. Nothing was changed.</summary>
    public const string PreconditionRequired = Prefix + "precondition-required";

    /// <summary>412: the resource changed since the <c>ETag</c> in <c>If-Match</c>. Nothing was changed; read it again.</summary>
    public const string PreconditionFailed = Prefix + "precondition-failed";

    /// <summary>422: the accounts' currencies and the movement's differ.</summary>
    public const string CurrencyMismatch = Prefix + "currency-mismatch";

    /// <summary>422: the account to debit holds less than the amount.</summary>
    public const string InsufficientFunds = Prefix + "insufficient-funds";

    /// <summary>503: the database cannot be reached; nothing was changed. Retry after <c>Retry-After</c>.</summary>
    public const string DatabaseUnavailable = Prefix + "database-unavailable";

    /// <summary>422: a balance would pass the ledger's limit.</summary>
    public const string BalanceLimitExceeded = Prefix + "balance-limit-exceeded";

    /// <summary>No payment with that id exists for the tenant.</summary>
    public const string PaymentNotFound = Prefix + "payment-not-found";

    /// <summary>The card was declined (402); the payment is recorded as declined and the answer replays.</summary>
    public const string CardDeclined = Prefix + "card-declined";

    /// <summary>
    /// 503: the payment exists but the processor has not answered yet; a retry with the same key resumes it (never charging
    /// twice), and the background completer settles it if no retry comes.
    /// </summary>
    public const string PaymentOutcomePending = Prefix + "payment-outcome-pending";

    /// <summary>503: the refund exists and its amount left the account, but the processor has not confirmed it yet; retry with the same key.</summary>
    public const string RefundOutcomePending = Prefix + "refund-outcome-pending";

    /// <summary>The processor refused the refund for good; it is <c>failed</c> and its money is back in the account (422).</summary>
    public const string RefundRefused = Prefix + "refund-refused";

    /// <summary>Only a succeeded payment can be refunded (422).</summary>
    public const string PaymentNotRefundable = Prefix + "payment-not-refundable";

    /// <summary>The refunds of a payment would exceed it (422).</summary>
    public const string RefundExceedsPayment = Prefix + "refund-exceeds-payment";

    /// <summary>The key already made a payment or refund with other details, and its record has expired (422).</summary>
    public const string KeyReusedForOtherPayment = Prefix + "key-reused";

    /// <summary>404: no such hold for this tenant.</summary>
    public const string HoldNotFound = Prefix + "hold-not-found";

    /// <summary>409: the hold was captured or voided already, or has expired (<c>hold_status</c> says which). Nothing was changed.</summary>
    public const string HoldNotPending = Prefix + "hold-not-pending";

    /// <summary>422: the capture asks for more than the hold reserved. Nothing was captured.</summary>
    public const string CaptureExceedsHold = Prefix + "capture-exceeds-hold";

    /// <summary>
    /// 422: the ledger refused an item of a batch, so nothing in the batch was applied; <c>failed_item</c>, <c>error</c>
    /// and <c>items</c> say which, why, and how far the batch was checked. Stored and replayed with the key.
    /// </summary>
    public const string BatchItemFailed = Prefix + "batch-item-failed";

    /// <summary>404: no such batch for this tenant.</summary>
    public const string BatchNotFound = Prefix + "batch-not-found";
    /// <summary>409: only a payment in <c>requires_capture</c> can be captured (it was captured, canceled, or taken at once); <c>payment_status</c> says what it is.</summary>
    public const string PaymentNotCapturable = Prefix + "payment-not-capturable";

    /// <summary>409: only a payment in <c>requires_capture</c> can be canceled; <c>payment_status</c> says what it is.</summary>
    public const string PaymentNotCancelable = Prefix + "payment-not-cancelable";

    /// <summary>409: the payment's authorisation expired (<c>authorization_expires_at</c>) before it was captured or canceled; nothing was captured.</summary>
    public const string AuthorizationExpired = Prefix + "authorization-expired";

    /// <summary>400: the capture asks for more than the payment authorised. Nothing was captured.</summary>
    public const string CaptureExceedsAuthorization = Prefix + "capture-exceeds-authorization";

    /// <summary>503: the capture has begun (the payment is <c>capturing</c>), but the processor has not confirmed it yet; retry with the same key.</summary>
    public const string CaptureOutcomePending = Prefix + "capture-outcome-pending";

    /// <summary>503: the cancel has begun (the payment is <c>canceling</c>), but the processor has not confirmed it yet; retry with the same key.</summary>
    public const string CancelOutcomePending = Prefix + "cancel-outcome-pending";
}
