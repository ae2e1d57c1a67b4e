using System.Data.Common;
using Idem.Messaging;
using Idem.Messaging.Data;
using Idem.Messaging.Inbox;
using Idem.Messaging.Outbox;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Idem's messaging: the transactional outbox, the idempotent consumers and their database.</summary>
public static class IdempotentMessagingServiceCollectionExtensions
{
    /// <summary>
    /// Adds the outbox (<see cref="IOutbox"/>), its relay and the inbox purge as hosted services. Follow with the database
    /// (<see cref="UseSqlite"/> or <see cref="UsePostgres"/>), the consumers (<c>AddConsumer</c>) and a transport
    /// (<see cref="UseInProcess"/>, or <c>UseRabbitMq</c> from Idem.Messaging.RabbitMQ). Without a transport, messages are enqueued and kept.
    /// The settings are validated at start: invalid ones fail the host's start with an <see cref="OptionsValidationException"/>.
    /// </summary>
    /// <param name="services">The service collection.</param>
    /// <param name="configure">Changes the settings (tables, relay, retention).</param>
    public static IIdempotentMessagingBuilder AddIdempotentMessaging(this IServiceCollection services, Action<MessagingOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<MessagingOptions>().ValidateOnStart();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MessagingOptions>, MessagingOptionsValidator>());
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<MessagingOptions>, MessagingRetryDelaysValidator>());
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<RelaySignal>();
        services.TryAddSingleton<IOutbox, Idem.Messaging.Outbox.Outbox>();
        services.TryAddSingleton<OutboxRelay>();
        services.TryAddSingleton<MessagingPurge>();
        services.TryAddSingleton<MessageDispatcher>();
        services.TryAddSingleton<IMessageDispatcher>(sp => sp.GetRequiredService<MessageDispatcher>());
        services.TryAddSingleton<MessagingDatabase>(_ => throw new InvalidOperationException(
            "Idem messaging has no database: call UseSqlite(dataSource) or UsePostgres(dataSource) after AddIdempotentMessaging()."));
        services.AddHostedService<MessagingSchemaService>();
        services.AddHostedService<OutboxRelayService>();
        services.AddHostedService<MessagingPurgeService>();
        return new Builder(services);
    }

    /// <summary>
    /// Keeps the outbox and the inbox in a SQLite database, reached through <paramref name="dataSource"/> (which the
    /// application owns), e.g. <c>SqliteFactory.Instance.CreateDataSource("Data Source=app.db")</c>. Use the database your
    /// business tables are in: the outbox joins your transaction, and handlers write through the inbox's. Run the relay
    /// in one process per database file.
    /// </summary>
    public static IIdempotentMessagingBuilder UseSqlite(this IIdempotentMessagingBuilder builder, DbDataSource dataSource)
        => UseDatabase(builder, dataSource, options => new SqliteMessagingSql(options.TablePrefix));

    /// <summary>
    /// Keeps the outbox and the inbox in PostgreSQL, reached through <paramref name="dataSource"/> (an
    /// <c>NpgsqlDataSource</c>, which the application owns). Use the database your business tables are in. Any number of
    /// nodes may run: one relays at a time.
    /// </summary>
    public static IIdempotentMessagingBuilder UsePostgres(this IIdempotentMessagingBuilder builder, DbDataSource dataSource)
        => UseDatabase(builder, dataSource, options => new PostgresMessagingSql(options.Schema, options.TablePrefix));

    /// <summary>
    /// Adds a consumer named <paramref name="name"/> whose deliveries <typeparamref name="THandler"/> handles (resolved
    /// from a fresh scope per delivery; registered as scoped unless it already is). Its settings are named options (named
    /// after the consumer), validated at start.
    /// </summary>
    /// <exception cref="InvalidOperationException">A consumer of that name is already registered.</exception>
    public static IIdempotentMessagingBuilder AddConsumer<THandler>(this IIdempotentMessagingBuilder builder, string name, Action<ConsumerOptions>? configure = null)
        where THandler : class, IMessageHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddScoped<THandler>();
        return AddConsumer(builder, name, configure, sp => sp.GetRequiredService<THandler>());
    }

    /// <summary>
    /// Adds a consumer named <paramref name="name"/> whose deliveries <paramref name="handler"/> handles. Its settings are
    /// named options (named after the consumer), validated at start.
    /// </summary>
    /// <exception cref="InvalidOperationException">A consumer of that name is already registered.</exception>
    public static IIdempotentMessagingBuilder AddConsumer(this IIdempotentMessagingBuilder builder, string name, Func<MessageContext, CancellationToken, ValueTask> handler, Action<ConsumerOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(handler);
        var instance = new DelegateHandler(handler);
        return AddConsumer(builder, name, configure, _ => instance);
    }

    /// <summary>
    /// The in-process transport: the outbox relay hands each committed message to this process's consumers (those whose
    /// <see cref="ConsumerOptions.MessageTypes"/> match its type, as RabbitMQ topic patterns), each in its inbox
    /// transaction, and marks it published only after every one of them committed. A consumer failure fails the publish,
    /// so the message stays in the outbox and is retried with the relay's backoff (consumers that handled it skip the
    /// copy); a message a consumer dead-letters stays dead-lettered in its inbox. No broker: a node consumes only the
    /// messages of its own outbox, so use it for one node, development and tests, and a broker otherwise.
    /// </summary>
    public static IIdempotentMessagingBuilder UseInProcess(this IIdempotentMessagingBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.RemoveAll<IMessagePublisher>();
        builder.Services.AddSingleton<IMessagePublisher, InProcessPublisher>();
        return builder;
    }

    private static IIdempotentMessagingBuilder AddConsumer(IIdempotentMessagingBuilder builder, string name, Action<ConsumerOptions>? configure, Func<IServiceProvider, IMessageHandler> create)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(name);
        if (builder.Services.Any(d => d.ServiceType == typeof(ConsumerRegistration) && ((ConsumerRegistration)d.ImplementationInstance!).Name == name))
        {
            throw new InvalidOperationException($"A consumer named '{name}' is already registered.");
        }

        builder.Services.AddOptions<ConsumerOptions>(name)
            .Configure(options =>
            {
                options.Name = name;
                configure?.Invoke(options);
                options.Name = name;
                if (options.MessageTypes.Count == 0)
                {
                    options.MessageTypes.Add("#");
                }
            })
            .ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ConsumerOptions>, ConsumerOptionsValidator>());
        builder.Services.AddSingleton(new ConsumerRegistration(name, create));
        return builder;
    }

    private static IIdempotentMessagingBuilder UseDatabase(IIdempotentMessagingBuilder builder, DbDataSource dataSource, Func<MessagingOptions, MessagingSql> sql)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentNullException.ThrowIfNull(dataSource);
        builder.Services.RemoveAll<MessagingDatabase>();
        builder.Services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<MessagingOptions>>().Value;
            return new MessagingDatabase(dataSource, sql(options), options.CreateSchema, sp.GetRequiredService<TimeProvider>());
        });
        return builder;
    }

    private sealed class Builder(IServiceCollection services) : IIdempotentMessagingBuilder
    {
        public IServiceCollection Services { get; } = services;
    }

    private sealed class DelegateHandler(Func<MessageContext, CancellationToken, ValueTask> handler) : IMessageHandler
    {
        public ValueTask HandleAsync(MessageContext context, CancellationToken cancellationToken) => handler(context, cancellationToken);
    }
}
