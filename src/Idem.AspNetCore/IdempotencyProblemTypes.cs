namespace Idem.AspNetCore;

/// <summary>
/// The <c>type</c> of each problem+json Idem answers with (RFC 9457). Each names one situation, so clients can branch on
/// it; docs/problems.md describes each and whether a retry with the same key is safe.
/// </summary>
public static class IdempotencyProblemTypes
{
    /// <summary>400: the endpoint requires a key and none was sent. Retry with a key.</summary>
    public const string KeyMissing = "urn:idem:problem:idempotency-key-missing";

    /// <summary>400: the key is malformed, too long, repeated or a list. Retry with a valid key.</summary>
    public const string KeyInvalid = "urn:idem:problem:idempotency-key-invalid";

    /// <summary>422: the key was used for a different request. Do not retry with this key.</summary>
    public const string KeyMismatch = "urn:idem:problem:idempotency-key-mismatch";

    /// <summary>409: the first request with this key is still running. Retry with the same key after <c>Retry-After</c>.</summary>
    public const string RequestInProgress = "urn:idem:problem:request-in-progress";

    /// <summary>503: the idempotency store is unreachable; nothing ran. Retry with the same key after <c>Retry-After</c>.</summary>
    public const string StoreUnavailable = "urn:idem:problem:store-unavailable";
}
