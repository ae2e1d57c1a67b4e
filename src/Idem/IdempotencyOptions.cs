using Microsoft.Extensions.Options;
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

/// <summary>
/// The engine's settings: retention, lease, what a duplicate of a running operation gets, failures and purging; the
/// defaults of every operation. Bound from the configuration section <c>Idempotency</c> and validated at start. HTTP-only
/// settings (the header, the replayed headers, the response cap) are <c>IdempotencyHttpOptions</c> in Idem.AspNetCore.
/// </summary>
public sealed class IdempotencyOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Idempotency";

    /// <summary>How long a completed record is kept for replay. Default 24 hours.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(24);

    /// <summary>How long an in-flight request holds its key before another may take it over; renewed every third of it while it runs, so a crashed holder frees the key within about this long. Default 30 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan LeaseDuration { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>What a duplicate of a running request gets. Default <see cref="ConcurrentRequestHandling.Conflict"/>.</summary>
    public ConcurrentRequestHandling ConcurrentRequests { get; set; } = ConcurrentRequestHandling.Conflict;

    /// <summary>With <see cref="ConcurrentRequestHandling.WaitThenReplay"/>: how long to wait before answering 409. Default 10 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan ConcurrentWaitTimeout { get; set; } = TimeSpan.FromSeconds(10);

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

    /// <summary>How group commit batches the transactional operations that ask for it (<see cref="IdempotentOperation.GroupCommit"/>).</summary>
    [ValidateObjectMembers]
    public GroupCommitOptions GroupCommit { get; set; } = new();

    /// <summary>
    /// Whether, and how, the claims and completions of concurrent standalone operations share store calls, on a store that
    /// can take them in batches (<see cref="Storage.IBatchingStore"/>: PostgreSQL and Redis). Off by default.
    /// </summary>
    [ValidateObjectMembers]
    public BatchingOptions Batching { get; set; } = new();
}

/// <summary>
/// Batched claims and completions (section <c>Idempotency:Batching</c>): concurrent standalone operations on a store that
/// can take them in batches (<see cref="Storage.IBatchingStore"/>) claim their keys, and store their results, many in one
/// store call: on PostgreSQL one round trip and one commit per batch, on Redis one script call per hash slot. Each operation is still answered on its own and each
/// record still owned by its own lease. One batch of claims and one of completions are in flight at a time; what comes
/// meanwhile waits for the next. A batch takes what is waiting, up to <see cref="MaxBatchSize"/>, then waits up to
/// <see cref="MaxWait"/> for more.
/// </summary>
public sealed class BatchingOptions
{
    /// <summary>Whether standalone claims and completions are batched. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>The most claims (or completions) one store call takes. Default 64; 1 to 1,000.</summary>
    [Range(1, 1_000)]
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long a batch that is not full waits for one more; zero sends it at once, so only what queued up while the
    /// batch before it ran shares a call. Default zero; at most 100 ms.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:00.100")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.Zero;
}

/// <summary>
/// Group commit's batches (section <c>Idempotency:GroupCommit</c>): a batch commits when it holds
/// <see cref="MaxBatchSize"/> operations, or when no operation has come for <see cref="MaxWait"/>.
/// </summary>
public sealed class GroupCommitOptions
{
    /// <summary>The most operations one transaction holds. Default 64; 1 to 10,000.</summary>
    [Range(1, 10_000)]
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long a batch waits for one more operation once none is waiting; zero commits at once, so only the operations
    /// that queued up while the one before ran share a commit. Default zero; at most one second.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:01")]
    public TimeSpan MaxWait { get; set; } = TimeSpan.Zero;
}
