using System.ComponentModel.DataAnnotations;

namespace Idem.AspNetCore;

/// <summary>
/// What the HTTP front adds to <see cref="IdempotencyOptions"/>: the key header, what of a response is kept and replayed,
/// and the <c>Retry-After</c> of its problems. Bound from the same configuration section, <c>Idempotency</c>, and
/// validated at start; set in code with <c>AddIdempotency().ConfigureHttp(o =&gt; …)</c>.
/// </summary>
public sealed class IdempotencyHttpOptions
{
    /// <summary>The request header that carries the key. Default <c>Idempotency-Key</c>.</summary>
    [Required]
    [RegularExpression("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    public string HeaderName { get; set; } = "Idempotency-Key";

    /// <summary>The longest key accepted. Default 255.</summary>
    [Range(1, 4096)]
    public int MaxKeyLength { get; set; } = IdempotencyKey.DefaultMaxLength;

    /// <summary>The largest response body kept for replay. Larger responses are completed without their body. Default 1 MiB.</summary>
    [Range(0, 64 * 1024 * 1024)]
    public int MaxResponseBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Response headers replayed besides the built-in allow-list (Content-Type, Location, ETag, Content-Language, Cache-Control, Last-Modified).</summary>
    public IList<string> ReplayedHeaders { get; } = [];

    /// <summary>A header whose value names the caller's scope when the request is not authenticated (an API key header). Default none.</summary>
    public string? ScopeHeaderName { get; set; }

    /// <summary>The <c>Retry-After</c> sent with 409 and 503 when no better estimate is known. Default 1 second.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);
}
