using Microsoft.Extensions.Logging;

namespace Idem.Messaging.RabbitMQ;

internal static partial class Log
{
    [LoggerMessage(EventId = 651, Level = LogLevel.Warning, Message = "Connecting to RabbitMQ at {Endpoint} failed; trying again in {Delay}.")]
    public static partial void ConnectFailed(ILogger logger, string endpoint, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 652, Level = LogLevel.Information, Message = "Connected to RabbitMQ at {Endpoint}.")]
    public static partial void Connected(ILogger logger, string endpoint);

    [LoggerMessage(EventId = 653, Level = LogLevel.Warning, Message = "The RabbitMQ connection was lost ({Reason}); it recovers by itself.")]
    public static partial void ConnectionLost(ILogger logger, string reason);

    [LoggerMessage(EventId = 654, Level = LogLevel.Information, Message = "The RabbitMQ connection recovered.")]
    public static partial void ConnectionRecovered(ILogger logger);

    [LoggerMessage(EventId = 655, Level = LogLevel.Information, Message = "Consumer {Consumer} is consuming from queue {Queue}.")]
    public static partial void Consuming(ILogger logger, string consumer, string queue);

    [LoggerMessage(EventId = 656, Level = LogLevel.Warning, Message = "Consumer {Consumer} could not start on RabbitMQ; trying again in {Delay}.")]
    public static partial void ConsumerStartFailed(ILogger logger, string consumer, TimeSpan delay, Exception exception);

    [LoggerMessage(EventId = 657, Level = LogLevel.Warning, Message = "Settling delivery of message {MessageId} for consumer {Consumer} failed; the broker will redeliver it and the inbox will skip it.")]
    public static partial void SettleFailed(ILogger logger, string consumer, string? messageId, Exception exception);

    [LoggerMessage(EventId = 658, Level = LogLevel.Error, Message = "Message {MessageId} for consumer {Consumer} moved to dead-letter queue {Queue}: {Reason}")]
    public static partial void DeadLettered(ILogger logger, string consumer, string? messageId, string queue, string reason);
}
