using Idem;
using Idem.AspNetCore;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Idem.</summary>
public static class IdempotencyServiceCollectionExtensions
{
    /// <summary>
    /// Adds idempotency: options (bound from the <c>Idempotency</c> configuration section and validated at start), the
    /// default scope resolver, the background purge and telemetry. Follow with a store: <c>.AddInMemoryStore()</c>,
    /// <c>.AddSqliteStore(…)</c>, …
    /// </summary>
    public static IIdempotencyBuilder AddIdempotency(this IServiceCollection services, Action<IdempotencyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<IdempotencyOptions>().BindConfiguration(IdempotencyOptions.SectionName).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdempotencyOptions>, IdempotencyOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<IIdempotencyScopeResolver, DefaultScopeResolver>();
        services.TryAddScoped<IdempotencyTransactionAccessor>();
        services.TryAddScoped<IIdempotencyTransaction>(sp => sp.GetRequiredService<IdempotencyTransactionAccessor>().Current
            ?? throw new InvalidOperationException("IIdempotencyTransaction is available only inside an endpoint marked Transactional() while its key is claimed."));
        services.TryAddScoped<IIdempotencyContext>(sp => sp.GetRequiredService<IdempotencyTransactionAccessor>().Context
            ?? throw new InvalidOperationException("IIdempotencyContext is available only inside an idempotent endpoint while its key is claimed (a request with an Idempotency-Key header)."));
        services.AddHostedService<IdempotencyPurgeService>();
        return new IdempotencyBuilder(services);
    }

    private sealed class IdempotencyBuilder(IServiceCollection services) : IIdempotencyBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}

[OptionsValidator]
internal sealed partial class IdempotencyOptionsValidator : IValidateOptions<IdempotencyOptions>;
