namespace Idem.Check;

internal enum Severity
{
    Must,
    Should,
}

internal enum Outcome
{
    Pass,
    Fail,
    Skip,
}

/// <summary>One rule of the contract the kit can test.</summary>
internal sealed record CheckInfo(string Id, string Meaning, string Reference, Severity Severity);

/// <summary>The result of one check against one target.</summary>
internal sealed record CheckResult(CheckInfo Check, Outcome Outcome, string Detail);

/// <summary>Every check, in the order it runs. docs/idem-check.md lists the same table.</summary>
internal static class CheckCatalog
{
    private const string Draft = "draft-ietf-httpapi-idempotency-key-header";

    public static readonly CheckInfo KeyMissing = new("key-missing", "a request without a key is turned away with a 4xx, not a 5xx, where the target requires keys", $"{Draft} §2.7; BEHAVIOUR §1", Severity.Must);
    public static readonly CheckInfo KeyEmpty = new("key-empty", "an empty key is a 4xx", $"{Draft} §2.1; BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo KeyTooLong = new("key-too-long", "a key one character over the maximum length is a 4xx", "Stripe: keys up to 255 characters; BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo KeyControl = new("key-control-chars", "a key with a control character is a 4xx", $"{Draft} §2.1 (RFC 8941 string); BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo KeyNonAscii = new("key-non-ascii", "a key with a non-ASCII character is a 4xx", $"{Draft} §2.1 (RFC 8941 string); BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo KeyTwoValues = new("key-two-values", "a header that carries two keys is a 4xx, not one of them silently chosen", $"{Draft} §2.1 (a single string); BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo KeyTwoHeaders = new("key-two-headers", "two key header lines in one request are a 4xx, not one of them silently chosen", $"{Draft} §2.1 (one header, a single string); RFC 9110 §5.3; BEHAVIOUR §1", Severity.Should);
    public static readonly CheckInfo FirstCall = new("first-call", "the first request with a fresh key succeeds (2xx)", $"{Draft} §2.6", Severity.Must);
    public static readonly CheckInfo ReplayStatus = new("replay-status", "a retry with the same key and request answers the first status", $"{Draft} §2.6; Stripe; BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ReplayBody = new("replay-body", "a retry answers the first body, byte for byte", $"{Draft} §2.6; Stripe; BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ReplayHeaders = new("replay-headers", "a retry keeps the first answer's Location and Content-Type", "BEHAVIOUR §5 (replayed header allow-list)", Severity.Should);
    public static readonly CheckInfo ReplayMarker = new("replay-marker", "a replayed answer says so (Idempotent-Replayed: true)", "Stripe (Idempotent-Replayed); BEHAVIOUR §4", Severity.Should);
    public static readonly CheckInfo ReplayEffect = new("replay-effect", "a retry adds no effect (by the effects URL)", $"{Draft} §1; BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ReuseOtherBody = new("reuse-other-body", "the same key with another body is a 4xx, neither run nor answered with the first result", $"{Draft} §2.7; BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ReuseStatus422 = new("reuse-422", "the same key with another body is exactly 422", $"{Draft} §2.7; BEHAVIOUR §4", Severity.Should);
    public static readonly CheckInfo ConcurrentEffect = new("concurrent-one-effect", "N parallel identical requests run once (one effect, or one distinct 2xx answer)", $"{Draft} §2.7 (concurrent requests); BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ConcurrentAnswers = new("concurrent-answers", "every parallel duplicate gets the first answer (same status and body) or a 409", $"{Draft} §2.7; BEHAVIOUR §4", Severity.Must);
    public static readonly CheckInfo ConcurrentRetryAfter = new("concurrent-retry-after", "a 409 for a request still running carries Retry-After", "BEHAVIOUR §4", Severity.Should);
    public static readonly CheckInfo CallerScope = new("caller-scope", "two callers sending one key get separate records, never each other's answer", "Stripe (keys per account); BEHAVIOUR §2", Severity.Must);
    public static readonly CheckInfo ServerErrorNotStored = new("server-error-not-stored", "a 5xx is not stored as the answer: a retry with the same key runs again", "BEHAVIOUR §5 (Stripe stores 5xx instead)", Severity.Should);
    public static readonly CheckInfo DropNotStored = new("drop-not-stored", "an answer the server broke off mid-response is not stored: a retry with the same key runs again (or is a 409 while the first still runs)", "BEHAVIOUR §5 (an exception releases the key)", Severity.Should);
    public static readonly CheckInfo ClientHangUp = new("client-hang-up", "a request whose client hung up runs at most once: its retry gets a whole 2xx (the first run's or its own) or a 409, never a stored error", "BEHAVIOUR §5 (the client hanging up does not cancel storing the result)", Severity.Must);
    public static readonly CheckInfo ErrorProblemJson = new("error-problem-json", "the kit's 4xx answers are application/problem+json with a type", $"{Draft} §2.7; RFC 9457; BEHAVIOUR §4", Severity.Should);
    public static readonly CheckInfo ErrorDistinctTypes = new("error-distinct-types", "missing key, invalid key and key reuse have distinct problem types", "RFC 9457 §3.1.1; BEHAVIOUR §4", Severity.Should);
    public static readonly CheckInfo KeyAfterPause = new("key-after-pause", "a key is still honoured (replayed) after a short pause", $"{Draft} §2.3 (expiry); Stripe: 24 hours; BEHAVIOUR §6", Severity.Should);
    public static readonly CheckInfo ExpiryStated = new("expiry-stated", "the first answer and its replay say how long the key is kept (a header such as Idempotency-Retention or Idempotency-Expires)", $"{Draft} §2.3 (publish the expiry policy); BEHAVIOUR §6", Severity.Should);

    public static IReadOnlyList<CheckInfo> All { get; } =
    [
        KeyMissing, KeyEmpty, KeyTooLong, KeyControl, KeyNonAscii, KeyTwoValues, KeyTwoHeaders,
        FirstCall, ReplayStatus, ReplayBody, ReplayHeaders, ReplayMarker, ReplayEffect,
        ReuseOtherBody, ReuseStatus422,
        ConcurrentEffect, ConcurrentAnswers, ConcurrentRetryAfter,
        CallerScope, ServerErrorNotStored, DropNotStored, ClientHangUp,
        ErrorProblemJson, ErrorDistinctTypes, KeyAfterPause, ExpiryStated,
    ];
}
