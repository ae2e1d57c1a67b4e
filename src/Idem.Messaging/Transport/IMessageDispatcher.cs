namespace Idem.Messaging.Transport;

/// <summary>
/// The inbox as a transport drives it, for transport authors: the transport hands each delivery to
/// <see cref="DispatchAsync"/> and settles it with the broker as the result says, and only after it returned.
/// </summary>
public interface IMessageDispatcher
{
    /// <summary>The registered consumers.</summary>
    IReadOnlyList<ConsumerOptions> Consumers { get; }

    /// <summary>
    /// Runs the consumer's handler on the message in one database transaction with the inbox record, and commits. Returns
    /// what to do with the delivery: acknowledge it (<see cref="DeliveryOutcome.Handled"/>,
    /// <see cref="DeliveryOutcome.Duplicate"/>), give it back for another attempt (<see cref="DeliveryOutcome.Retry"/>), or
    /// move it to the dead-letter and then acknowledge it (<see cref="DeliveryOutcome.DeadLetter"/>).
    /// </summary>
    ValueTask<DeliveryResult> DispatchAsync(string consumer, Message message, CancellationToken cancellationToken);
}

/// <summary>What became of a delivery.</summary>
public enum DeliveryOutcome
{
    /// <summary>The handler ran and its effects committed with the inbox record: acknowledge.</summary>
    Handled,

    /// <summary>The inbox already holds the message as handled: acknowledge and skip.</summary>
    Duplicate,

    /// <summary>The handler failed (or the database could not be reached) and attempts remain: give the message back.</summary>
    Retry,

    /// <summary>The handler failed for the last allowed time (or did so before): dead-letter it with the reason, then acknowledge.</summary>
    DeadLetter,
}

/// <summary>The outcome of a delivery, with the reason when it is a dead-letter or a retry.</summary>
/// <param name="Outcome">What to do with the delivery.</param>
/// <param name="Reason">Why it failed, for <see cref="DeliveryOutcome.Retry"/> and <see cref="DeliveryOutcome.DeadLetter"/>.</param>
public readonly record struct DeliveryResult(DeliveryOutcome Outcome, string? Reason = null);
