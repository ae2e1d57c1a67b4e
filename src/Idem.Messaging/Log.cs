using Microsoft.Extensions.Logging;

namespace Idem.Messaging;

internal static partial class Log
{
    [LoggerMessage(EventId = 601, Level = LogLevel.Warning, Message = "Publishing message {MessageId} ({MessageType}) from the outbox failed; the relay will try again.")]
    public static partial void PublishFailed(ILogger logger, string messageId, string messageType, Exception exception);

    [LoggerMessage(EventId = 602, Level = LogLevel.Warning, Message = "An outbox relay pass failed; the relay will try again.")]
    public static partial void RelayPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 603, Level = LogLevel.Information, Message = "No message transport is registered: the outbox relay does not run, and enqueued messages stay in the outbox.")]
    public static partial void RelayDisabled(ILogger logger);

    [LoggerMessage(EventId = 604, Level = LogLevel.Debug, Message = "Consumer {Consumer} skipped message {MessageId}: already handled.")]
    public static partial void DuplicateSkipped(ILogger logger, string consumer, string messageId);

    [LoggerMessage(EventId = 605, Level = LogLevel.Warning, Message = "Consumer {Consumer} failed on message {MessageId} (attempt {Attempt} of {MaxAttempts}); it will be retried.")]
    public static partial void HandlerFailed(ILogger logger, string consumer, string messageId, int attempt, int maxAttempts, Exception exception);

    [LoggerMessage(EventId = 606, Level = LogLevel.Error, Message = "Consumer {Consumer} failed on message {MessageId} {Attempts} times; it goes to the dead-letter.")]
    public static partial void DeadLettered(ILogger logger, string consumer, string messageId, int attempts, Exception exception);

    [LoggerMessage(EventId = 607, Level = LogLevel.Warning, Message = "The inbox of consumer {Consumer} could not be reached for message {MessageId}; the delivery will be retried.")]
    public static partial void InboxUnavailable(ILogger logger, string consumer, string messageId, Exception exception);

    [LoggerMessage(EventId = 608, Level = LogLevel.Debug, Message = "Consumer {Consumer} stopped while handling message {MessageId}; it rolled back and will be redelivered.")]
    public static partial void DispatchCancelled(ILogger logger, string consumer, string messageId, Exception exception);

    [LoggerMessage(EventId = 609, Level = LogLevel.Information, Message = "Purged {InboxRows} inbox and {OutboxRows} outbox rows past their retention.")]
    public static partial void Purged(ILogger logger, int inboxRows, int outboxRows);

    [LoggerMessage(EventId = 610, Level = LogLevel.Warning, Message = "Purging the inbox and outbox failed; the next interval tries again.")]
    public static partial void PurgeFailed(ILogger logger, Exception exception);
}
