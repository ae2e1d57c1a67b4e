using System.Collections.Concurrent;
using System.Text;
using global::RabbitMQ.Client;
using global::RabbitMQ.Client.Events;
using Idem.Messaging.Transport;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Idem.Messaging.RabbitMQ;

/// <summary>
/// Consumes each registered consumer's queue with manual acknowledgements. A delivery is handed to the inbox
/// (<see cref="IMessageDispatcher"/>) and settled only after it returned, so only after the handler's transaction
/// committed: acknowledged when handled or a duplicate, given back (requeued) for a retry, or copied to the consumer's
/// dead-letter queue with its reason and then acknowledged. Whatever the process does not settle (it crashed, the
/// connection dropped) the broker redelivers, and the inbox skips what was already committed.
/// </summary>
internal sealed class RabbitMqConsumerService(
    IMessageDispatcher dispatcher,
    RabbitMqConnection connection,
    RabbitMqPublisher publisher,
    RabbitMqOptions options,
    TimeProvider time,
    ILogger<RabbitMqConsumerService> logger) : BackgroundService
{
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(30);

    protected override Task ExecuteAsync(CancellationToken stoppingToken)
        => Task.WhenAll(dispatcher.Consumers.Select(consumer => RunAsync(consumer, stoppingToken)));

    // Keeps one channel consuming. The client recovers the channel and its consumer when the connection comes back; a
    // channel the broker closed on its own (an error on it) is not recovered, so it is replaced here.
    private async Task RunAsync(ConsumerOptions consumer, CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            IChannel? channel = null;
            var inFlight = new ConcurrentDictionary<Task, byte>();
            try
            {
                var amqp = await connection.GetAsync(stoppingToken).ConfigureAwait(false);
                channel = await amqp.CreateChannelAsync(new CreateChannelOptions(false, false, consumerDispatchConcurrency: (ushort)consumer.Concurrency), stoppingToken).ConfigureAwait(false);
                await channel.BasicQosAsync(0, (ushort)options.PrefetchCount, global: false, stoppingToken).ConfigureAwait(false);
                var queue = await RabbitMqTopology.DeclareConsumerAsync(channel, options, consumer, stoppingToken).ConfigureAwait(false);

                var receiver = new AsyncEventingBasicConsumer(channel);
                var current = channel;
                receiver.ReceivedAsync += (_, delivery) => Track(inFlight, () => OnDeliveryAsync(current, consumer, delivery, stoppingToken));
                await channel.BasicConsumeAsync(queue, autoAck: false, receiver, stoppingToken).ConfigureAwait(false);
                Log.Consuming(logger, consumer.Name, queue);

                while (!stoppingToken.IsCancellationRequested && !(channel.IsClosed && amqp.IsOpen))
                {
                    await Task.Delay(options.ReconnectDelay, time, stoppingToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                // Stopping.
            }
            catch (Exception ex)
            {
                Log.ConsumerStartFailed(logger, consumer.Name, options.ReconnectDelay, ex);
                try
                {
                    await Task.Delay(options.ReconnectDelay, time, stoppingToken).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                }
            }
            finally
            {
                if (channel is not null)
                {
                    // A graceful stop lets the deliveries in hand settle first (a cancelled handler rolls back and its
                    // delivery is given back), so none is left for the broker to redeliver without need.
                    await Task.WhenAll(inFlight.Keys).WaitAsync(ShutdownGrace, CancellationToken.None).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
                    try
                    {
                        await channel.CloseAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (Exception ex) when (ex is not OutOfMemoryException)
                    {
                        // Already closed.
                    }

                    await channel.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    // The delivery is counted in flight before it starts: with a synchronous database (SQLite) the whole dispatch, commit
    // included, runs before the first await, and a stop that looked in between would close the channel under the ack.
    private static async Task Track(ConcurrentDictionary<Task, byte> inFlight, Func<Task> deliver)
    {
        var settled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        inFlight.TryAdd(settled.Task, 0);
        try
        {
            await deliver().ConfigureAwait(false);
        }
        finally
        {
            inFlight.TryRemove(settled.Task, out _);
            settled.SetResult();
        }
    }

    private async Task OnDeliveryAsync(IChannel channel, ConsumerOptions consumer, BasicDeliverEventArgs delivery, CancellationToken stoppingToken)
    {
        var properties = delivery.BasicProperties;
        var message = ToMessage(delivery);
        try
        {
            var result = message is null
                ? new DeliveryResult(DeliveryOutcome.DeadLetter, "The message has no message id, so it cannot be deduplicated.")
                : await dispatcher.DispatchAsync(consumer.Name, message, stoppingToken).ConfigureAwait(false);

            switch (result.Outcome)
            {
                case DeliveryOutcome.Handled or DeliveryOutcome.Duplicate:
                    await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None).ConfigureAwait(false);
                    break;
                case DeliveryOutcome.Retry:
                    await channel.BasicNackAsync(delivery.DeliveryTag, multiple: false, requeue: true, CancellationToken.None).ConfigureAwait(false);
                    break;
                default:
                    var queue = RabbitMqTopology.DeadLetterQueueName(options, consumer.Name);
                    var reason = result.Reason ?? "dead-lettered";

                    // Decided: copy and acknowledge even while the host stops (a copy cut short by the stop would leave the
                    // delivery to come back and be copied again). Bounded by the publish timeout, not the stop.
                    using (var settle = new CancellationTokenSource(options.PublishTimeout, time))
                    {
                        await publisher.DeadLetterAsync(queue, consumer.Name, message ?? new Message(properties.Type ?? delivery.RoutingKey, delivery.Body.ToArray()), reason, settle.Token)
                            .ConfigureAwait(false);
                    }

                    Log.DeadLettered(logger, consumer.Name, properties.MessageId, queue, reason);
                    await channel.BasicAckAsync(delivery.DeliveryTag, multiple: false, CancellationToken.None).ConfigureAwait(false);
                    break;
            }
        }
        catch (Exception ex)
        {
            // The delivery stays unsettled: the broker redelivers it when the channel closes, and the inbox decides again.
            Log.SettleFailed(logger, consumer.Name, properties.MessageId, ex);
        }
    }

    private static Message? ToMessage(BasicDeliverEventArgs delivery)
    {
        var properties = delivery.BasicProperties;
        if (string.IsNullOrWhiteSpace(properties.MessageId) || properties.MessageId.Length > 200)
        {
            return null;
        }

        string? aggregate = null;
        if (properties.Headers?.TryGetValue(RabbitMqPublisher.AggregateHeader, out var value) == true && value is byte[] bytes)
        {
            aggregate = Encoding.UTF8.GetString(bytes);
        }

        // The body's memory belongs to the client only for the duration of this callback: the handler gets a copy.
        return new Message(string.IsNullOrEmpty(properties.Type) ? delivery.RoutingKey : properties.Type, delivery.Body.ToArray())
        {
            Id = properties.MessageId,
            Aggregate = aggregate,
            ContentType = properties.ContentType,
        };
    }
}
