using Microsoft.AspNetCore.Mvc.Filters;

namespace Idem.AspNetCore;

/// <summary>
/// Gives an MVC action (or every action of a controller) the <c>Idempotency-Key</c> contract. Unset values fall back
/// to <see cref="IdempotencyOptions"/>. <c>app.UseIdempotency()</c> must be in the pipeline.
/// </summary>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class IdempotentAttribute : Attribute, IIdempotencyMetadata, IAsyncActionFilter, IOrderedFilter
{
    private IdempotencyPolicy? _policy;

    /// <summary>Whether a request without a key is refused (true, the default) or runs undeduplicated.</summary>
    public bool KeyRequired { get; set; } = true;

    /// <summary>Whether the claim, the action's writes and the response commit in one transaction.</summary>
    public bool Transactional { get; set; }

    /// <summary>Retention in seconds; 0 for the configured default.</summary>
    public int RetentionSeconds { get; set; }

    /// <summary>Whether a duplicate of a running request waits for it and replays, instead of answering 409.</summary>
    public bool WaitForConcurrent { get; set; }

    /// <summary>JSON members the fingerprint is narrowed to; null for the whole body.</summary>
    public string[]? FingerprintMembers { get; set; }

    /// <inheritdoc/>
    // Runs last among action filters, so model validation that turns a request away happens first and stores nothing.
    public int Order => int.MaxValue;

    /// <summary>The policy these settings describe.</summary>
    public IdempotencyPolicy Policy => _policy ??= new IdempotencyPolicy
    {
        KeyRequired = KeyRequired,
        Transactional = Transactional,
        Retention = RetentionSeconds > 0 ? TimeSpan.FromSeconds(RetentionSeconds) : null,
        ConcurrentRequests = WaitForConcurrent ? ConcurrentRequestHandling.WaitThenReplay : null,
        FingerprintMembers = FingerprintMembers is { Length: > 0 } ? FingerprintMembers : null,
    };

    bool IIdempotencyMetadata.TracksHandlerRun => true;

    /// <inheritdoc/>
    public Task OnActionExecutionAsync(ActionExecutingContext context, ActionExecutionDelegate next)
    {
        IdempotentRequest.MarkHandlerRan(context.HttpContext);
        return next();
    }
}
