using System.Diagnostics.Metrics;
using Idem;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the engine: the executor, its options and the background purge.</summary>
public static class IdempotentExecutorServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="IIdempotentExecutor"/>, for idempotent operations outside HTTP (background jobs, message handlers):
    /// options (bound from the <c>Idempotency</c> configuration section and validated at start), the background purge
    /// and telemetry. Follow with a store: <c>.AddInMemoryStore()</c>, <c>.AddSqliteStore(…)</c>, …. An ASP.NET Core app
    /// calls <c>AddIdempotency()</c> instead, which adds this too.
    /// </summary>
    public static IIdempotencyBuilder AddIdempotentExecutor(this IServiceCollection services, Action<IdempotencyOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<IdempotencyOptions>()
            .BindSectionIfConfigured(IdempotencyOptions.SectionName)
            .ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdempotencyOptions>, IdempotencyOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.AddLogging();
        services.TryAddSingleton(sp => new IdempotencyMetrics(sp.GetService<IMeterFactory>()));
        services.TryAddSingleton<IIdempotentExecutor, IdempotentExecutor>();
        services.TryAddScoped<IIdempotencyContext>(_ => OperationScope.Current
            ?? throw new InvalidOperationException("IIdempotencyContext is available only while an idempotent operation runs under its key (for an endpoint: a request with an Idempotency-Key header)."));
        services.TryAddScoped<Idem.Storage.IIdempotencyTransaction>(_ => OperationScope.Current?.Transaction
            ?? throw new InvalidOperationException("IIdempotencyTransaction is available only inside a transactional operation (an endpoint marked Transactional()) while its key is claimed."));
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IHostedService, IdempotencyPurgeService>());
        return new IdempotencyBuilder(services);
    }

    private sealed class IdempotencyBuilder(IServiceCollection services) : IIdempotencyBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}

[OptionsValidator]
internal sealed partial class IdempotencyOptionsValidator : IValidateOptions<IdempotencyOptions>;
