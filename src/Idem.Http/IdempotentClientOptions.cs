using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Http;

/// <summary>
/// Settings of <see cref="IdempotentRetryHandler"/>. Each property documents its default and its range; values out of
/// range are refused with an <see cref="OptionsValidationException"/> when the handler is made (and at start, through
/// <c>AddIdempotency</c>).
/// </summary>
public sealed class IdempotentClientOptions
{
    /// <summary>The request header that carries the key. Default <c>Idempotency-Key</c>. Must be an HTTP token.</summary>
    [Required]
    [RegularExpression("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    public string HeaderName { get; set; } = "Idempotency-Key";

    /// <summary>
    /// The methods that get a key and retries. Default POST and PATCH. Requests with other methods pass through untouched
    /// (one attempt, no key) unless the caller set a key on them.
    /// </summary>
    [MinLength(1)]
    public ISet<HttpMethod> Methods { get; } = new HashSet<HttpMethod> { HttpMethod.Post, HttpMethod.Patch };

    /// <summary>The most attempts one logical request makes, the first included. Default 5; 1–100 (1 turns retries off but still assigns the key).</summary>
    [Range(1, 100)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>
    /// The retry budget, counted from the moment the handler receives the request. No retry starts, and no wait is begun
    /// that would end, past it. An attempt already in flight is not cut (that is <see cref="PerAttemptTimeout"/>'s and
    /// <see cref="HttpClient.Timeout"/>'s job). Default 60 seconds; more than zero, at most one day.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00", MinimumIsExclusive = true)]
    public TimeSpan OverallDeadline { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>The cap of the first backoff; it doubles per retry up to <see cref="MaxDelay"/>. Default 200 ms; zero to one hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The largest backoff cap. Default 10 seconds; at least <see cref="BaseDelay"/>, at most one hour. A <c>Retry-After</c> may ask for longer.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
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
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00", MinimumIsExclusive = true)]
    public TimeSpan? PerAttemptTimeout { get; set; }

    /// <summary>
    /// Makes the key of a request that has none. Called once per logical request, before the first attempt. Default
    /// <see langword="null"/>: 128 random bits, base64url-encoded (22 characters). The key must be 1–255 printable ASCII
    /// characters without <c>"</c> or <c>,</c>.
    /// </summary>
    public Func<HttpRequestMessage, string>? KeyGenerator { get; set; }

    /// <summary>The source of jitter, a number in [0, 1). Tests fix it; default <see cref="Random.Shared"/>.</summary>
    internal Func<double>? Random { get; set; }
}

/// <summary>Checks the annotations of <see cref="IdempotentClientOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class IdempotentClientOptionsValidator : IValidateOptions<IdempotentClientOptions>;

/// <summary>The rule the annotations cannot state: the backoff cap may not start above its ceiling.</summary>
internal sealed class IdempotentClientDelaysValidator : IValidateOptions<IdempotentClientOptions>
{
    public ValidateOptionsResult Validate(string? name, IdempotentClientOptions options)
        => options.MaxDelay < options.BaseDelay
            ? ValidateOptionsResult.Fail(
                $"{nameof(IdempotentClientOptions.MaxDelay)} ({options.MaxDelay}) must be at least {nameof(IdempotentClientOptions.BaseDelay)} ({options.BaseDelay}).")
            : ValidateOptionsResult.Success;
}
