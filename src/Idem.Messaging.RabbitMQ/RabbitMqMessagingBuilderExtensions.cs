using Idem.Messaging;
using Idem.Messaging.RabbitMQ;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the RabbitMQ transport.</summary>
public static class RabbitMqMessagingBuilderExtensions
{
    /// <summary>
    /// Publishes the outbox to RabbitMQ and runs every registered consumer on a queue of its own. Messages go to a durable
    /// topic exchange (<see cref="RabbitMqOptions.Exchange"/>) with their type as the routing key, persistent, each
    /// publish confirmed by the broker; each consumer's durable queue is bound to its message types and acknowledged
    /// manually, after the handler's transaction committed. Exchanges and queues are declared at start (idempotently);
    /// the connection reconnects by itself. The settings are validated at start: invalid ones fail the host's start with an
    /// <see cref="OptionsValidationException"/>.
    /// </summary>
    /// <param name="builder">The builder returned by <c>AddIdempotentMessaging</c>.</param>
    /// <param name="uri">The broker, e.g. <c>amqp://guest:guest@localhost:5672/</c>.</param>
    /// <param name="configure">Changes further settings (exchange, queue prefix, prefetch, timeouts).</param>
    public static IIdempotentMessagingBuilder UseRabbitMq(this IIdempotentMessagingBuilder builder, Uri uri, Action<RabbitMqOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(uri);
        var services = builder.Services;
        services.AddOptions<RabbitMqOptions>()
            .Configure(options =>
            {
                options.Uri = uri;
                configure?.Invoke(options);
            })
            .ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<RabbitMqOptions>, RabbitMqOptionsValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.RemoveAll<IMessagePublisher>();
        services.AddSingleton(sp => new RabbitMqConnection(Options(sp), sp.GetRequiredService<TimeProvider>(), Logger<RabbitMqConnection>(sp)));
        services.AddSingleton(sp => new RabbitMqPublisher(sp.GetRequiredService<RabbitMqConnection>(), Options(sp)));
        services.AddSingleton<IMessagePublisher>(sp => sp.GetRequiredService<RabbitMqPublisher>());
        services.AddHostedService(sp => new RabbitMqConsumerService(
            sp.GetRequiredService<IMessageDispatcher>(),
            sp.GetRequiredService<RabbitMqConnection>(),
            sp.GetRequiredService<RabbitMqPublisher>(),
            Options(sp),
            sp.GetRequiredService<TimeProvider>(),
            Logger<RabbitMqConsumerService>(sp)));
        return builder;
    }

    private static RabbitMqOptions Options(IServiceProvider services) => services.GetRequiredService<IOptions<RabbitMqOptions>>().Value;

    private static ILogger<T> Logger<T>(IServiceProvider services) => services.GetService<ILogger<T>>() ?? NullLogger<T>.Instance;
}
