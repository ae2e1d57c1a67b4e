using Idem.Http;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds <see cref="IdempotentRetryHandler"/> to an <see cref="HttpClient"/> made by <c>IHttpClientFactory</c>.</summary>
public static class IdempotencyHttpClientBuilderExtensions
{
    /// <summary>
    /// Gives each POST and PATCH of this client one idempotency key, kept across every retry, and retries them safely.
    /// Options are named after the client and validated at start. Time comes from a registered <see cref="TimeProvider"/>,
    /// if any. Call it before <c>AddStandardResilienceHandler()</c> so this handler is the outer one (docs/client.md).
    /// </summary>
    public static IHttpClientBuilder AddIdempotency(this IHttpClientBuilder builder, Action<IdempotentClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        var options = builder.Services.AddOptions<IdempotentClientOptions>(builder.Name).ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdempotentClientOptions>, IdempotentClientOptionsValidator>());
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<IdempotentClientOptions>, IdempotentClientDelaysValidator>());
        var name = builder.Name;
        return builder.AddHttpMessageHandler(services => new IdempotentRetryHandler(
            services.GetRequiredService<IOptionsMonitor<IdempotentClientOptions>>().Get(name),
            services.GetService<TimeProvider>(),
            services.GetService<ILogger<IdempotentRetryHandler>>()));
    }
}
