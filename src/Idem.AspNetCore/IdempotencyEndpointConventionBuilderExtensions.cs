using Idem.AspNetCore;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Endpoint conventions for idempotency keys.</summary>
public static class IdempotencyEndpointConventionBuilderExtensions
{
    /// <summary>
    /// Gives the endpoint(s) the <c>Idempotency-Key</c> contract: replay of completed requests, 400/409/422 problem
    /// details, <c>Idempotent-Replayed</c>. <c>app.UseIdempotency()</c> must be in the pipeline.
    /// </summary>
    public static TBuilder RequireIdempotency<TBuilder>(this TBuilder builder, Action<IdempotencyPolicyBuilder>? configure = null)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        var policy = new IdempotencyPolicyBuilder();
        configure?.Invoke(policy);
        var metadata = new ConventionIdempotencyMetadata(policy.Build());
        builder.Add(endpoint =>
        {
            endpoint.Metadata.Add(metadata);
            endpoint.FilterFactories.Add((context, next) =>
            {
                // Only endpoints that run filters (route handlers) get here: from now on "the handler ran" is known exactly.
                metadata.TracksHandlerRun = true;
                return invocation =>
                {
                    IdempotentRequest.MarkHandlerRan(invocation.HttpContext);
                    return next(invocation);
                };
            });
        });
        return builder;
    }

    /// <summary>Turns idempotency off for the endpoint(s), overriding a policy set on a group.</summary>
    public static TBuilder DisableIdempotency<TBuilder>(this TBuilder builder)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Add(endpoint => endpoint.Metadata.Add(new ConventionIdempotencyMetadata(IdempotencyPolicy.Disabled)));
        return builder;
    }
}
