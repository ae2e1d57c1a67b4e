using System.Text;
using global::RabbitMQ.Client;
using Idem.Messaging.Transport;

namespace Idem.Messaging.RabbitMQ;

/// <summary>
/// Publishes to RabbitMQ on one channel with publisher confirms: each publish completes when the broker confirmed it
/// (persistent message, durable exchange), and throws when it was refused, timed out or the connection went away.
/// </summary>
internal sealed class RabbitMqPublisher(RabbitMqConnection connection, RabbitMqOptions options) : IMessagePublisher, IAsyncDisposable
{
    /// <summary>The header carrying <see cref="Message.Aggregate"/>.</summary>
    public const string AggregateHeader = "idem-aggregate";

    /// <summary>The header carrying a dead letter's reason.</summary>
    public const string ReasonHeader = "idem-dead-letter-reason";

    /// <summary>The header naming the consumer that dead-lettered a message.</summary>
    public const string ConsumerHeader = "idem-dead-letter-consumer";

    private readonly SemaphoreSlim _gate = new(1, 1);
    private IChannel? _channel;

    public async ValueTask PublishAsync(Message message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var properties = Properties(message);
        if (message.Aggregate is not null)
        {
            properties.Headers = new Dictionary<string, object?> { [AggregateHeader] = Encoding.UTF8.GetBytes(message.Aggregate) };
        }

        await PublishAsync(options.Exchange, message.Type, options.RequireRoute, properties, message.Body, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Puts a copy of the message, with the reason, into a dead-letter queue (through the default exchange).</summary>
    public ValueTask DeadLetterAsync(string queue, string consumer, Message message, string reason, CancellationToken cancellationToken)
    {
        var properties = Properties(message);
        properties.Headers = new Dictionary<string, object?>
        {
            [ReasonHeader] = Encoding.UTF8.GetBytes(reason),
            [ConsumerHeader] = Encoding.UTF8.GetBytes(consumer),
        };
        if (message.Aggregate is not null)
        {
            properties.Headers[AggregateHeader] = Encoding.UTF8.GetBytes(message.Aggregate);
        }

        return PublishAsync("", queue, mandatory: true, properties, message.Body, cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _channel, null) is { } channel)
        {
            await CloseQuietlyAsync(channel).ConfigureAwait(false);
        }

        _gate.Dispose();
    }

    private static BasicProperties Properties(Message message) => new()
    {
        MessageId = message.Id,
        Type = message.Type,
        ContentType = message.ContentType,
        DeliveryMode = DeliveryModes.Persistent,
    };

    private async ValueTask PublishAsync(string exchange, string routingKey, bool mandatory, BasicProperties properties, ReadOnlyMemory<byte> body, CancellationToken cancellationToken)
    {
        var channel = await GetChannelAsync(cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(options.PublishTimeout);
        try
        {
            // With confirmation tracking on, this completes when the broker confirmed, and throws on a nack (or, for a
            // mandatory message no queue took, a return).
            await channel.BasicPublishAsync(exchange, routingKey, mandatory, properties, body, timeout.Token).ConfigureAwait(false);
        }
        catch when (channel.IsClosed)
        {
            // A channel the broker closed on an error is not recovered with the connection: open a new one next time. A
            // channel closed because the connection went away recovers with it.
            if (!(await connection.GetAsync(CancellationToken.None).ConfigureAwait(false)).IsOpen)
            {
                throw;
            }

            if (Interlocked.CompareExchange(ref _channel, null, channel) == channel)
            {
                await CloseQuietlyAsync(channel).ConfigureAwait(false);
            }

            throw;
        }
    }

    private async ValueTask<IChannel> GetChannelAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _channel) is { } existing)
        {
            return existing;
        }

        await _gate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_channel is null)
            {
                var amqp = await connection.GetAsync(cancellationToken).ConfigureAwait(false);
                var channel = await amqp.CreateChannelAsync(
                    new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true),
                    cancellationToken).ConfigureAwait(false);
                await RabbitMqTopology.DeclareExchangeAsync(channel, options, cancellationToken).ConfigureAwait(false);
                _channel = channel;
            }

            return _channel;
        }
        finally
        {
            _gate.Release();
        }
    }

    private static async ValueTask CloseQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.CloseAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Already closed.
        }

        await channel.DisposeAsync().ConfigureAwait(false);
    }
}
