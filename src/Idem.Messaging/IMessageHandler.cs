namespace Idem.Messaging;

/// <summary>
/// Handles the messages of one consumer. Resolved from a fresh DI scope for each delivery. Write every effect through
/// <see cref="MessageContext.Transaction"/>: Idem records the message id in that same transaction and commits once the
/// handler returns, so the effects and the record exist together or not at all.
/// </summary>
public interface IMessageHandler
{
    /// <summary>
    /// Handles one message. Return to commit; throw to roll everything back (the delivery is retried, and after
    /// <see cref="ConsumerOptions.MaxAttempts"/> failures it goes to the dead-letter with the exception as the reason).
    /// Never commit or roll back the transaction yourself.
    /// </summary>
    ValueTask HandleAsync(MessageContext context, CancellationToken cancellationToken);
}
