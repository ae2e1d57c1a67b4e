namespace Idem.Grpc;

/// <summary>The gRPC metadata Idem reads and writes.</summary>
public static class IdempotencyMetadataKeys
{
    /// <summary>The call's key, sent by the client: 1–255 printable ASCII characters, as the HTTP header.</summary>
    public const string Key = "idempotency-key";

    /// <summary>Response header and trailer of an answer replayed from the store: <c>true</c>.</summary>
    public const string Replayed = "idempotent-replayed";

    /// <summary>Trailer of an <c>Aborted</c> or <c>Unavailable</c> answer: milliseconds to wait before retrying with the same key.</summary>
    public const string RetryAfter = "retry-after";

    /// <summary>
    /// gRPC's own server pushback trailer, sent with <see cref="RetryAfter"/>: a channel retry policy that retries
    /// <c>Aborted</c> or <c>Unavailable</c> waits this long before its next attempt.
    /// </summary>
    public const string RetryPushback = "grpc-retry-pushback-ms";
}
