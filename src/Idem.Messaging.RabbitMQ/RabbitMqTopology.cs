using global::RabbitMQ.Client;

namespace Idem.Messaging.RabbitMQ;

/// <summary>
/// The durable exchange, queues and bindings. Declaring what exists with the same arguments is a no-op on the broker, so
/// every channel declares what it uses, at every start, on any number of nodes.
/// </summary>
internal static class RabbitMqTopology
{
    public static Task DeclareExchangeAsync(IChannel channel, RabbitMqOptions options, CancellationToken cancellationToken)
        => channel.ExchangeDeclareAsync(options.Exchange, ExchangeType.Topic, durable: true, autoDelete: false, arguments: null, cancellationToken: cancellationToken);

    public static string QueueName(RabbitMqOptions options, string consumer) => options.QueuePrefix + consumer;

    public static string DeadLetterQueueName(RabbitMqOptions options, string consumer) => QueueName(options, consumer) + ".dead-letter";

    /// <summary>Declares the consumer's queue bound to each of its message types, and its dead-letter queue.</summary>
    public static async Task<string> DeclareConsumerAsync(IChannel channel, RabbitMqOptions options, ConsumerOptions consumer, CancellationToken cancellationToken)
    {
        await DeclareExchangeAsync(channel, options, cancellationToken).ConfigureAwait(false);
        var queue = QueueName(options, consumer.Name);
        await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        foreach (var type in consumer.MessageTypes)
        {
            await channel.QueueBindAsync(queue, options.Exchange, type, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        await channel.QueueDeclareAsync(DeadLetterQueueName(options, consumer.Name), durable: true, exclusive: false, autoDelete: false, arguments: null, cancellationToken: cancellationToken).ConfigureAwait(false);
        return queue;
    }
}
