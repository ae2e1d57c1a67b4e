namespace Idem.AspNetCore;

/// <summary>
/// How one endpoint uses idempotency keys. Endpoint metadata: built by <c>RequireIdempotency()</c> or
/// <see cref="IdempotentAttribute"/>; unset values fall back to <see cref="IdempotencyOptions"/>.
/// </summary>
public sealed record IdempotencyPolicy
{
    internal static readonly IdempotencyPolicy Disabled = new() { IsDisabled = true };

    internal static readonly string[] DefaultMethods = ["POST", "PATCH"];

    /// <summary>True when the endpoint opted out (<c>DisableIdempotency()</c>).</summary>
    public bool IsDisabled { get; init; }

    /// <summary>Whether a request without a key is refused with 400 (true, the default) or runs without deduplication.</summary>
    public bool KeyRequired { get; init; } = true;

    /// <summary>The methods keys apply to. Default POST and PATCH.</summary>
    public IReadOnlyList<string> Methods { get; init; } = DefaultMethods;

    /// <summary>How long the result is kept, or null for <see cref="IdempotencyOptions.Retention"/>.</summary>
    public TimeSpan? Retention { get; init; }

    /// <summary>The lease duration, or null for <see cref="IdempotencyOptions.LeaseDuration"/>.</summary>
    public TimeSpan? LeaseDuration { get; init; }

    /// <summary>JSON members (dotted paths) the fingerprint is narrowed to, or null for the whole body.</summary>
    public IReadOnlyList<string>? FingerprintMembers { get; init; }

    /// <summary>What a duplicate of a running request gets, or null for <see cref="IdempotencyOptions.ConcurrentRequests"/>.</summary>
    public ConcurrentRequestHandling? ConcurrentRequests { get; init; }

    /// <summary>How long to wait for the first request, or null for <see cref="IdempotencyOptions.ConcurrentWaitTimeout"/>.</summary>
    public TimeSpan? ConcurrentWaitTimeout { get; init; }

    /// <summary>What to do when the store is unreachable, or null for <see cref="IdempotencyOptions.StoreFailure"/>.</summary>
    public StoreFailureHandling? StoreFailure { get; init; }

    /// <summary>What to do with a 5xx in standalone mode, or null for <see cref="IdempotencyOptions.ServerErrors"/>.</summary>
    public ServerErrorHandling? ServerErrors { get; init; }

    /// <summary>True when the claim, the handler's writes and the response commit in one database transaction.</summary>
    public bool Transactional { get; init; }

    /// <summary>
    /// Runs a transactional endpoint in group commit: its request shares one database transaction with the requests that
    /// run beside it, each in a savepoint of its own, and one commit answers them all (see <see cref="Idem.GroupCommitOptions"/>).
    /// </summary>
    public bool GroupCommit { get; init; }

    /// <summary>Response headers replayed besides the global allow-list.</summary>
    public IReadOnlyList<string> ReplayedHeaders { get; init; } = [];

    /// <summary>Whether a request with <paramref name="method"/> uses keys here; a disabled policy applies to none.</summary>
    internal bool AppliesTo(string method)
    {
        if (IsDisabled)
        {
            return false;
        }

        foreach (var m in Methods)
        {
            if (string.Equals(m, method, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
