using Idem;
using Idem.AspNetCore;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Idem for an ASP.NET Core app.</summary>
public static class IdempotencyServiceCollectionExtensions
{
    /// <summary>
    /// Adds idempotency: the executor, its options (bound from the <c>Idempotency</c> configuration section and validated
    /// at start), the default scope resolver, the background purge and telemetry. Follow with a store:
    /// <c>.AddInMemoryStore()</c>, <c>.AddSqliteStore(…)</c>, …
    /// </summary>
    public static IIdempotencyBuilder AddIdempotency(this IServiceCollection services, Action<IdempotencyOptions>? configure = null)
    {
        var builder = services.AddIdempotentExecutor(configure);
        services.TryAddSingleton<IIdempotencyScopeResolver, DefaultScopeResolver>();
        return builder;
    }
}
