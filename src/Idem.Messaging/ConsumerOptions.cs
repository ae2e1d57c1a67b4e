using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Messaging;

/// <summary>
/// One consumer: its name (the inbox key), what it subscribes to, and how it treats failures. Named options (named after
/// the consumer), validated at start.
/// </summary>
public sealed class ConsumerOptions
{
    /// <summary>
    /// The consumer's name. The inbox records message ids per name, so two consumers of one message each handle it once;
    /// transports name the consumer's queue after it. Letters, digits, <c>.</c>, <c>-</c> and <c>_</c>, at most 100.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$")]
    public string Name { get; set; } = "";

    /// <summary>
    /// The message types the consumer receives. Transports may accept patterns (RabbitMQ topic patterns: <c>payment.*</c>,
    /// <c>#</c>). Default: everything (<c>#</c>).
    /// </summary>
    public IList<string> MessageTypes { get; } = [];

    /// <summary>
    /// How many times a handler may fail on one message before the message goes to the dead-letter, with the last
    /// exception as the reason. Default 5.
    /// </summary>
    [Range(1, 1000)]
    public int MaxAttempts { get; set; } = 5;

    /// <summary>How long a failed delivery waits before it is given back to the broker for another attempt. Default 1 second.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "01:00:00")]
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many deliveries the consumer handles at once. Default 1 (in order). On SQLite keep it at 1: writes queue anyway.</summary>
    [Range(1, 256)]
    public int Concurrency { get; set; } = 1;
}

/// <summary>Checks the annotations of <see cref="ConsumerOptions"/> (source-generated, no reflection); every consumer's named options.</summary>
[OptionsValidator]
internal sealed partial class ConsumerOptionsValidator : IValidateOptions<ConsumerOptions>;
