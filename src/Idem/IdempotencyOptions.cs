using System.ComponentModel.DataAnnotations;

namespace Idem;

/// <summary>What to do when a request arrives while the first request with its key is still running.</summary>
public enum ConcurrentRequestHandling
{
    /// <summary>Answer 409 with <c>Retry-After</c> at once (the default).</summary>
    Conflict,

    /// <summary>Wait for the first request to finish, up to <see cref="IdempotencyOptions.ConcurrentWaitTimeout"/>, then replay it.</summary>
    WaitThenReplay,
}

/// <summary>What to do when the store cannot be reached.</summary>
public enum StoreFailureHandling
{
    /// <summary>Answer 503 and do not run the handler (the default: a duplicate effect is worse than a refusal).</summary>
    FailClosed,

    /// <summary>Run the handler without deduplication.</summary>
    FailOpen,
}

/// <summary>What to do with a 5xx response in standalone mode, where the handler's effects cannot be rolled back.</summary>
public enum ServerErrorHandling
{
    /// <summary>Release the key so a retry runs the handler again (the default).</summary>
    Release,

    /// <summary>Store the 5xx and replay it, as Stripe does.</summary>
    Store,
}

/// <summary>Idempotency settings. Bound from the configuration section <c>Idempotency</c> and validated at start.</summary>
public sealed class IdempotencyOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Idempotency";

    /// <summary>The request header that carries the key. Default <c>Idempotency-Key</c>.</summary>
    [Required]
    [RegularExpression("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")]
    public string HeaderName { get; set; } = "Idempotency-Key";

    /// <summary>The longest key accepted. Default 255.</summary>
    [Range(1, 4096)]
    public int MaxKeyLength { get; set; } = IdempotencyKey.DefaultMaxLength;

    /// <summary>How long a completed record is kept for replay. Default 24 hours.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long an in-flight request holds its key before another may take it over; renewed every third of it while it runs, so a crashed holder frees the key within about this long. Default 30 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>The largest response body kept for replay. Larger responses are completed without their body. Default 1 MiB.</summary>
    [Range(0, 64 * 1024 * 1024)]
    public int MaxResponseBodyBytes { get; set; } = 1024 * 1024;

    /// <summary>Response headers replayed besides the built-in allow-list (Content-Type, Location, ETag, Content-Language, Cache-Control, Last-Modified).</summary>
    public IList<string> ReplayedHeaders { get; } = [];

    /// <summary>A header whose value names the caller's scope when the request is not authenticated (an API key header). Default none.</summary>
    public string? ScopeHeaderName { get; set; }

    /// <summary>What a duplicate of a running request gets. Default <see cref="ConcurrentRequestHandling.Conflict"/>.</summary>
    public ConcurrentRequestHandling ConcurrentRequests { get; set; } = ConcurrentRequestHandling.Conflict;

    /// <summary>With <see cref="ConcurrentRequestHandling.WaitThenReplay"/>: how long to wait before answering 409. Default 10 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ConcurrentWaitTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The <c>Retry-After</c> sent with 409 and 503 when no better estimate is known. Default 1 second.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00")]
    public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>What to do when the store is unreachable. Default <see cref="StoreFailureHandling.FailClosed"/>.</summary>
    public StoreFailureHandling StoreFailure { get; set; } = StoreFailureHandling.FailClosed;

    /// <summary>What to do with a 5xx in standalone mode. Default <see cref="ServerErrorHandling.Release"/>.</summary>
    public ServerErrorHandling ServerErrors { get; set; } = ServerErrorHandling.Release;

    /// <summary>How often expired records are purged in the background; zero turns the purge off. Default 5 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How many records one purge statement deletes at most. Default 1000.</summary>
    [Range(1, 100_000)]
    public int PurgeBatchSize { get; set; } = 1000;
}
