namespace Idem.Messaging;

/// <summary>
/// A message as Idem keeps and moves it: an id that identifies it for every consumer, a type (what happened; transports
/// route on it), the body as bytes, and an optional aggregate that orders it among its siblings.
/// </summary>
public sealed class Message
{
    /// <summary>Creates a message with a new id.</summary>
    /// <param name="type">What the message says happened, e.g. <c>payment.succeeded</c>. Transports route on it.</param>
    /// <param name="body">The payload, as bytes (JSON, for example). Idem never looks inside.</param>
    public Message(string type, ReadOnlyMemory<byte> body)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(type);
        Type = type;
        Body = body;
    }

    /// <summary>
    /// The message id, the key every consumer's inbox deduplicates on. Default: a new time-ordered GUID. Set it yourself to
    /// derive it from the business change (for example <c>payment.succeeded:pay_123</c>) so that a change can never
    /// produce two different ids. At most 200 characters.
    /// </summary>
    public string Id
    {
        get;
        init
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(value);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value.Length, 200);
            field = value;
        }
    } = Guid.CreateVersion7().ToString("N");

    /// <summary>What the message says happened. Transports route on it (RabbitMQ: the routing key).</summary>
    public string Type { get; }

    /// <summary>The payload.</summary>
    public ReadOnlyMemory<byte> Body { get; }

    /// <summary>
    /// The aggregate the message belongs to (an account id, for example), or null. The outbox publishes the messages of one
    /// aggregate in the order they were enqueued, one after the other; messages of different aggregates, and messages with
    /// none, may overtake each other.
    /// </summary>
    public string? Aggregate { get; init; }

    /// <summary>The body's media type (e.g. <c>application/json</c>), carried in the transport's message properties.</summary>
    public string? ContentType { get; init; }
}
