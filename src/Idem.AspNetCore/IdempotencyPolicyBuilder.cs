namespace Idem.AspNetCore;

/// <summary>Builds an endpoint's <see cref="IdempotencyPolicy"/>: <c>RequireIdempotency(p => p.Transactional().Fingerprint("amount"))</c>.</summary>
public sealed class IdempotencyPolicyBuilder
{
    private IdempotencyPolicy _policy = new();

    /// <summary>Lets requests without a key run, undeduplicated. Each keyless request is its own.</summary>
    public IdempotencyPolicyBuilder Optional()
    {
        _policy = _policy with { KeyRequired = false };
        return this;
    }

    /// <summary>Sets the methods keys apply to (default POST and PATCH); e.g. add PUT or DELETE to opt them in.</summary>
    public IdempotencyPolicyBuilder Methods(params string[] methods)
    {
        ArgumentNullException.ThrowIfNull(methods);
        ArgumentOutOfRangeException.ThrowIfZero(methods.Length);
        _policy = _policy with { Methods = [.. methods.Select(m => m.ToUpperInvariant())] };
        return this;
    }

    /// <summary>Keeps results for <paramref name="retention"/>.</summary>
    public IdempotencyPolicyBuilder Retention(TimeSpan retention)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(retention, TimeSpan.Zero);
        _policy = _policy with { Retention = retention };
        return this;
    }

    /// <summary>Holds the key for <paramref name="lease"/> per claim or renewal.</summary>
    public IdempotencyPolicyBuilder Lease(TimeSpan lease)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lease, TimeSpan.FromSeconds(1));
        _policy = _policy with { LeaseDuration = lease };
        return this;
    }

    /// <summary>Narrows the body's part of the fingerprint to these JSON members (dotted paths from the root).</summary>
    public IdempotencyPolicyBuilder Fingerprint(params string[] members)
    {
        ArgumentNullException.ThrowIfNull(members);
        ArgumentOutOfRangeException.ThrowIfZero(members.Length);
        _policy = _policy with { FingerprintMembers = [.. members] };
        return this;
    }

    /// <summary>Makes a duplicate of a running request wait up to <paramref name="timeout"/> for it and replay its result.</summary>
    public IdempotencyPolicyBuilder WaitForConcurrent(TimeSpan? timeout = null)
    {
        _policy = _policy with { ConcurrentRequests = ConcurrentRequestHandling.WaitThenReplay, ConcurrentWaitTimeout = timeout };
        return this;
    }

    /// <summary>Answers a duplicate of a running request with 409 at once.</summary>
    public IdempotencyPolicyBuilder ConflictOnConcurrent()
    {
        _policy = _policy with { ConcurrentRequests = ConcurrentRequestHandling.Conflict };
        return this;
    }

    /// <summary>Runs the handler without deduplication when the store is unreachable, instead of answering 503.</summary>
    public IdempotencyPolicyBuilder FailOpen()
    {
        _policy = _policy with { StoreFailure = StoreFailureHandling.FailOpen };
        return this;
    }

    /// <summary>Stores 5xx responses and replays them, instead of releasing the key (standalone mode only).</summary>
    public IdempotencyPolicyBuilder StoreServerErrors()
    {
        _policy = _policy with { ServerErrors = ServerErrorHandling.Store };
        return this;
    }

    /// <summary>
    /// Claims the key inside a database transaction that the handler's writes join (through an injected
    /// <see cref="Storage.IIdempotencyTransaction"/>) and that commits with the stored response. Needs a SQL store.
    /// </summary>
    public IdempotencyPolicyBuilder Transactional()
    {
        _policy = _policy with { Transactional = true };
        return this;
    }

    /// <summary>
    /// Runs the endpoint in transactional mode with group commit: concurrent requests share one database transaction, each
    /// in a savepoint of its own (its claim, writes and response), and one commit makes them all durable. For endpoints
    /// whose work is one transaction (no recovery points) on a hot row, where one commit per request is the limit.
    /// </summary>
    public IdempotencyPolicyBuilder GroupCommit()
    {
        _policy = _policy with { Transactional = true, GroupCommit = true };
        return this;
    }

    /// <summary>Replays these response headers too.</summary>
    public IdempotencyPolicyBuilder ReplayHeaders(params string[] headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        _policy = _policy with { ReplayedHeaders = [.. _policy.ReplayedHeaders, .. headers] };
        return this;
    }

    /// <summary>The policy built so far.</summary>
    public IdempotencyPolicy Build() => _policy;
}
