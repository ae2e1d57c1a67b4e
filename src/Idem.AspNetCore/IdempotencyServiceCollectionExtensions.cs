using Idem;
using Idem.AspNetCore;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Idem for an ASP.NET Core app.</summary>
public static class IdempotencyServiceCollectionExtensions
{
    /// <summary>
    /// Adds idempotency: the executor and its options, the HTTP options (both bound from the <c>Idempotency</c>
    /// configuration section and validated at start), the default scope resolver, the background purge and telemetry.
    /// Follow with a store: <c>.AddInMemoryStore()</c>, <c>.AddSqliteStore(…)</c>, …
    /// </summary>
    public static IIdempotencyBuilder AddIdempotency(this IServiceCollection services, Action<IdempotencyOptions>? configure = null)
    {
        var builder = services.AddIdempotentExecutor(configure);
        services.AddOptions<IdempotencyHttpOptions>()
            .BindSectionIfConfigured(IdempotencyOptions.SectionName)
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdempotencyHttpOptions>, IdempotencyHttpOptionsValidator>());
        services.TryAddSingleton<IIdempotencyScopeResolver, DefaultScopeResolver>();
        return builder;
    }

    /// <summary>Changes the HTTP options (the key header, replayed headers, the response cap, <c>Retry-After</c>).</summary>
    public static IIdempotencyBuilder ConfigureHttp(this IIdempotencyBuilder builder, Action<IdempotencyHttpOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(configure);
        builder.Services.Configure(configure);
        return builder;
    }
}

[OptionsValidator]
internal sealed partial class IdempotencyHttpOptionsValidator : IValidateOptions<IdempotencyHttpOptions>;
