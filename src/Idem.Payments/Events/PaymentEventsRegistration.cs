using System.Data.Common;
using Idem.Payments.Data;
using Idem.Payments.Statements;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Idem.Payments.Events;

/// <summary>
/// The service's events: the outbox and the statements consumer's inbox in the ledger's database, moved by RabbitMQ when
/// <c>Messaging:RabbitMq</c> names a broker, otherwise in-process (a node consumes its own events).
/// </summary>
internal static class PaymentEventsRegistration
{
    /// <summary>The broker's URI, e.g. <c>amqp://guest:guest@localhost:5672/</c>; unset: the in-process transport.</summary>
    public const string RabbitMqKey = "Messaging:RabbitMq";

    /// <summary>The RabbitMQ exchange (default <c>idem.events</c>).</summary>
    public const string ExchangeKey = "Messaging:Exchange";

    /// <summary>Put before the consumer's queue name (default none).</summary>
    public const string QueuePrefixKey = "Messaging:QueuePrefix";

    /// <summary>Call after <c>AddPaymentsDatabase</c>, so the ledger's migrations (statement_lines) run first.</summary>
    public static void AddPaymentEvents(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton<PaymentEvents>();

        var configured = configuration.GetConnectionString(PaymentsDatabaseRegistration.ConnectionStringName);
        DbDataSource dataSource;
        if (PaymentsDatabaseRegistration.ProviderOf(configuration) == DatabaseProvider.PostgreSql)
        {
            // A pool of its own for the relay and the consumer, disposed with the host (see DataSourceOwner).
            dataSource = new NpgsqlDataSourceBuilder(configured) { Name = "idem-payments-messaging" }.Build();
            services.AddHostedService(_ => new DataSourceOwner(dataSource));
        }
        else
        {
            dataSource = SqliteFactory.Instance.CreateDataSource(PaymentsDatabaseRegistration.SqliteConnectionString(configured));
        }

        var messaging = services.AddIdempotentMessaging();
        messaging = dataSource is NpgsqlDataSource ? messaging.UsePostgres(dataSource) : messaging.UseSqlite(dataSource);
        messaging.AddConsumer<StatementsHandler>(StatementsHandler.ConsumerName, c =>
        {
            foreach (var type in StatementsHandler.MessageTypes)
            {
                c.MessageTypes.Add(type);
            }
        });

        if (configuration[RabbitMqKey] is { Length: > 0 } uri)
        {
            messaging.UseRabbitMq(new Uri(uri), r =>
            {
                r.Exchange = configuration[ExchangeKey] is { Length: > 0 } exchange ? exchange : r.Exchange;
                r.QueuePrefix = configuration[QueuePrefixKey] ?? r.QueuePrefix;
                r.ClientName = "idem-payments";

                // An event published before the statements queue is bound (the consumer still starting) would be dropped
                // by the topic exchange; with RequireRoute the publish fails instead and the event waits in the outbox.
                r.RequireRoute = true;
            });
        }
        else
        {
            messaging.UseInProcess();
        }
    }

    // Registered as a hosted service only so that the container creates it, and so disposes the pool when the host ends.
    private sealed class DataSourceOwner(DbDataSource dataSource) : IHostedService, IAsyncDisposable
    {
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => dataSource.DisposeAsync();
    }
}
