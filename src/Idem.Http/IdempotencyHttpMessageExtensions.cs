namespace Idem.Http;

/// <summary>Sets a request's idempotency key and reads what <see cref="IdempotentRetryHandler"/> did with it.</summary>
public static class IdempotencyHttpMessageExtensions
{
    internal static readonly HttpRequestOptionsKey<string> KeyOption = new("Idem.IdempotencyKey");
    internal static readonly HttpRequestOptionsKey<IdempotentCallInfo> InfoOption = new("Idem.IdempotentCallInfo");

    /// <summary>
    /// Sends this request with <paramref name="key"/> instead of a generated one. Use a key made once per logical operation
    /// (and stored with it), so that a retry after the caller's own crash reuses it. A key header already on the request wins.
    /// </summary>
    /// <exception cref="ArgumentException">The key is not 1–255 printable ASCII characters without <c>"</c> or <c>,</c>.</exception>
    public static HttpRequestMessage SetIdempotencyKey(this HttpRequestMessage request, string key)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (!IdempotencyKeys.IsValid(key))
        {
            throw new ArgumentException("An idempotency key is 1-255 printable ASCII characters (0x21-0x7E) without '\"' or ','.", nameof(key));
        }

        request.Options.Set(KeyOption, key);
        return request;
    }

    /// <summary>
    /// The key this request is sent with: the one the caller set through <see cref="SetIdempotencyKey"/>, or the one the
    /// handler generated once it has seen the request (also when the call then failed). <see langword="null"/> otherwise.
    /// </summary>
    public static string? GetIdempotencyKey(this HttpRequestMessage request)
    {
        ArgumentNullException.ThrowIfNull(request);
        return request.Options.TryGetValue(KeyOption, out var key) ? key : null;
    }

    /// <summary>
    /// The key, the number of attempts and whether the response is a replay; <see langword="null"/> when the request did not
    /// go through <see cref="IdempotentRetryHandler"/> (a GET, for instance).
    /// </summary>
    public static IdempotentCallInfo? GetIdempotencyInfo(this HttpResponseMessage response)
    {
        ArgumentNullException.ThrowIfNull(response);
        return response.RequestMessage is { } request && request.Options.TryGetValue(InfoOption, out var info) ? info : null;
    }
}
