namespace Idem.Messaging.Transport;

/// <summary>
/// A transport's outbound side, for transport authors: the outbox relay hands it committed messages. Calls for different
/// aggregates may overlap; calls for one aggregate never do.
/// </summary>
public interface IMessagePublisher
{
    /// <summary>
    /// Publishes one message durably and completes only when the broker has taken responsibility for it (a publisher
    /// confirm). Throws when it could not be sure: the relay then tries again later, so a message may be published twice
    /// but never lost.
    /// </summary>
    ValueTask PublishAsync(Message message, CancellationToken cancellationToken);
}
