namespace Idem.Storage;

/// <summary>
/// A response as it is stored and replayed: the status, the allow-listed headers and the body bytes.
/// </summary>
public sealed class IdempotencyResponse
{
    /// <summary>Creates a stored response.</summary>
    /// <param name="statusCode">The status code the handler produced.</param>
    /// <param name="headers">The allow-listed headers, in the order they were written.</param>
    /// <param name="body">The body bytes (empty when <paramref name="bodyTruncated"/> is true).</param>
    /// <param name="bodyTruncated">True when the body exceeded the capture limit and was not kept.</param>
    public IdempotencyResponse(int statusCode, IReadOnlyList<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> body, bool bodyTruncated = false)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(statusCode, 100);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(statusCode, 999);
        ArgumentNullException.ThrowIfNull(headers);
        StatusCode = statusCode;
        Headers = headers;
        Body = bodyTruncated ? ReadOnlyMemory<byte>.Empty : body;
        BodyTruncated = bodyTruncated;
    }

    /// <summary>The HTTP status code (or, outside HTTP, an application-defined code in 100–999).</summary>
    public int StatusCode { get; }

    /// <summary>The stored headers (allow-listed when captured).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Headers { get; }

    /// <summary>The body bytes exactly as first sent.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>True when the body was larger than the capture limit and only status and headers were kept.</summary>
    public bool BodyTruncated { get; }
}
