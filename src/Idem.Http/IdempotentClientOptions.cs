namespace Idem.Http;

/// <summary>
/// Settings of <see cref="IdempotentRetryHandler"/>. Each property documents its default and its range; values out of
/// range are refused when the handler is made (and at start, through <c>AddIdempotency</c>).
/// </summary>
public sealed class IdempotentClientOptions
{
    /// <summary>The request header that carries the key. Default <c>Idempotency-Key</c>. Must be an HTTP token.</summary>
    public string HeaderName { get; set; } = "Idempotency-Key";

    /// <summary>
    /// The methods that get a key and retries. Default POST and PATCH. Requests with other methods pass through untouched
    /// (one attempt, no key) unless the caller set a key on them.
    /// </summary>
    public ISet<HttpMethod> Methods { get; } = new HashSet<HttpMethod> { HttpMethod.Post, HttpMethod.Patch };

    /// <summary>The most attempts one logical request makes, the first included. Default 5; 1–100 (1 turns retries off but still assigns the key).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>
    /// The retry budget, counted from the moment the handler receives the request. No retry starts, and no wait is begun
    /// that would end, past it. An attempt already in flight is not cut (that is <see cref="PerAttemptTimeout"/>'s and
    /// <see cref="HttpClient.Timeout"/>'s job). Default 60 seconds; more than zero, at most one day.
    /// </summary>
    public TimeSpan OverallDeadline { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The cap of the first backoff; it doubles per retry up to <see cref="MaxDelay"/>. Default 200 ms; zero to one hour.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The largest backoff cap. Default 10 seconds; at least <see cref="BaseDelay"/>, at most one hour. A <c>Retry-After</c> may ask for longer.</summary>
    public TimeSpan MaxDelay { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether 500 is retried. Default <see langword="false"/>: a 500 usually means the request itself breaks the server, and
    /// an Idem server releases the key after a 500 in standalone mode, so a retry runs the operation again.
    /// </summary>
    public bool RetryOn500 { get; set; }

    /// <summary>
    /// How long one attempt may take until the response headers arrive; a timed-out attempt is retried with the same key.
    /// Default <see langword="null"/>: no limit of its own. When set, more than zero.
    /// </summary>
    public TimeSpan? PerAttemptTimeout { get; set; }

    /// <summary>
    /// Makes the key of a request that has none. Called once per logical request, before the first attempt. Default
    /// <see langword="null"/>: 128 random bits, base64url-encoded (22 characters). The key must be 1–255 printable ASCII
    /// characters without <c>"</c> or <c>,</c>.
    /// </summary>
    public Func<HttpRequestMessage, string>? KeyGenerator { get; set; }

    /// <summary>The source of jitter, a number in [0, 1). Tests fix it; default <see cref="Random.Shared"/>.</summary>
    internal Func<double>? Random { get; set; }

    /// <summary>Lists what is wrong with these options; empty when they are valid.</summary>
    internal List<string> Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(HeaderName) || !IsToken(HeaderName))
        {
            errors.Add($"{nameof(HeaderName)} must be an HTTP header name (a token).");
        }

        if (Methods.Count == 0)
        {
            errors.Add($"{nameof(Methods)} must name at least one method.");
        }

        if (MaxAttempts is < 1 or > 100)
        {
            errors.Add($"{nameof(MaxAttempts)} must be between 1 and 100.");
        }

        if (OverallDeadline <= TimeSpan.Zero || OverallDeadline > TimeSpan.FromDays(1))
        {
            errors.Add($"{nameof(OverallDeadline)} must be more than zero and at most one day.");
        }

        if (BaseDelay < TimeSpan.Zero || BaseDelay > TimeSpan.FromHours(1))
        {
            errors.Add($"{nameof(BaseDelay)} must be between zero and one hour.");
        }

        if (MaxDelay < BaseDelay || MaxDelay > TimeSpan.FromHours(1))
        {
            errors.Add($"{nameof(MaxDelay)} must be at least {nameof(BaseDelay)} and at most one hour.");
        }

        if (PerAttemptTimeout is { } timeout && (timeout <= TimeSpan.Zero || timeout > TimeSpan.FromDays(1)))
        {
            errors.Add($"{nameof(PerAttemptTimeout)} must be more than zero and at most one day when set.");
        }

        return errors;
    }

    private static bool IsToken(string value)
    {
        foreach (var c in value)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || "!#$%&'*+.^_`|~-".Contains(c, StringComparison.Ordinal)))
            {
                return false;
            }
        }

        return true;
    }
}
