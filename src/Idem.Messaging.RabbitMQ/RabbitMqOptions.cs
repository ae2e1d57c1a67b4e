using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.RabbitMQ;

/// <summary>Settings of the RabbitMQ transport. Validated at start.</summary>
public sealed class RabbitMqOptions
{
    /// <summary>The broker, as an AMQP URI: <c>amqp://user:password@host:5672/vhost</c>.</summary>
    [Required]
    public Uri? Uri { get; set; }

    /// <summary>
    /// The durable topic exchange messages are published to, with the message type as the routing key. Default
    /// <c>idem.events</c>.
    /// </summary>
    [Required]
    [StringLength(200, MinimumLength = 1)]
    public string Exchange { get; set; } = "idem.events";

    /// <summary>
    /// Put before a consumer's name to name its durable queue (default empty: the queue is the consumer's name). Its
    /// dead-letter queue is the queue's name followed by <c>.dead-letter</c>.
    /// </summary>
    [StringLength(100)]
    public string QueuePrefix { get; set; } = "";

    /// <summary>How many unacknowledged deliveries a consumer may hold at once. Default 32.</summary>
    [Range(1, 65535)]
    public int PrefetchCount { get; set; } = 32;

    /// <summary>How long to wait between attempts to connect or reconnect to the broker. Default 2 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:10:00")]
    public TimeSpan ReconnectDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How long a publish waits for the broker's confirm before it counts as failed (and is retried). Default 30 seconds.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan PublishTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether a message that no queue is bound to counts as failed (published with <c>mandatory</c>; the broker returns
    /// it). Default false: the broker drops it, as a topic exchange does, once confirmed. Turn it on when every message
    /// type must reach some queue: an unroutable message then stays in the outbox, holds back its aggregate, and the relay
    /// keeps retrying it until a consumer's queue is bound.
    /// </summary>
    public bool RequireRoute { get; set; }

    /// <summary>The connection's name, shown in the management UI. Default <c>idem</c>.</summary>
    public string ClientName { get; set; } = "idem";
}

/// <summary>Checks the annotations of <see cref="RabbitMqOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class RabbitMqOptionsValidator : IValidateOptions<RabbitMqOptions>;
