namespace Idem.Payments.Api;

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

    /// <summary>422: the accounts' currencies and the movement's differ.</summary>
    public const string CurrencyMismatch = Prefix + "currency-mismatch";

    /// <summary>422: the account to debit holds less than the amount.</summary>
    public const string InsufficientFunds = Prefix + "insufficient-funds";

    /// <summary>503: the database cannot be reached; nothing was changed. Retry after <c>Retry-After</c>.</summary>
    public const string DatabaseUnavailable = Prefix + "database-unavailable";

    /// <summary>422: a balance would pass the ledger's limit.</summary>
    public const string BalanceLimitExceeded = Prefix + "balance-limit-exceeded";
}
