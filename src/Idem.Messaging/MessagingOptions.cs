using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Messaging;

/// <summary>Settings of the outbox, the inbox and their tables. Validated at start.</summary>
public sealed class MessagingOptions
{
    /// <summary>
    /// The prefix of the tables (<c>{prefix}outbox</c>, <c>{prefix}inbox</c>). Default <c>idem_</c>. Letters, digits and
    /// underscores, at most 40 characters, not starting with a digit.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,39}$")]
    public string TablePrefix { get; set; } = "idem_";

    /// <summary>
    /// PostgreSQL only: the schema of the tables. Default <c>public</c>. Letters, digits and underscores, not starting with
    /// a digit or <c>pg_</c>.
    /// </summary>
    [Required]
    [RegularExpression("^(?![Pp][Gg]_)[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    public string Schema { get; set; } = "public";

    /// <summary>
    /// Whether the tables are created on first use (<c>CREATE … IF NOT EXISTS</c>, safe when several nodes start at once).
    /// Default true. Turn it off when a migration creates them (docs/messaging.md lists the DDL).
    /// </summary>
    public bool CreateSchema { get; set; } = true;

    /// <summary>How often the relay looks for committed messages when nothing woke it. Default 1 second.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan RelayPollingInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How many messages the relay reads and publishes per pass. Default 100.</summary>
    [Range(1, 10_000)]
    public int RelayBatchSize { get; set; } = 100;

    /// <summary>The relay's first wait after a publish failed; it doubles on each further failure. Default 200 ms.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan RelayRetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The relay's longest wait between failed attempts. Default 30 seconds; at least <see cref="RelayRetryDelay"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "01:00:00")]
    public TimeSpan RelayMaxRetryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a handled message's id stays in the inbox. Default 7 days. A redelivery after that would run its handler
    /// again, so keep it longer than any message can stay in the broker.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:01", "3650.00:00:00")]
    public TimeSpan InboxRetention { get; set; } = TimeSpan.FromDays(7);

    /// <summary>How long a published message stays in the outbox (for inspection). Default 1 day.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "3650.00:00:00")]
    public TimeSpan OutboxRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How often rows past their retention are deleted; zero turns the purge off. Default 1 hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan PurgeInterval { get; set; } = TimeSpan.FromHours(1);
}

/// <summary>Checks the annotations of <see cref="MessagingOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class MessagingOptionsValidator : IValidateOptions<MessagingOptions>;

/// <summary>The rule the annotations cannot state: the relay's backoff may not start above its ceiling.</summary>
internal sealed class MessagingRetryDelaysValidator : IValidateOptions<MessagingOptions>
{
    public ValidateOptionsResult Validate(string? name, MessagingOptions options)
        => options.RelayMaxRetryDelay < options.RelayRetryDelay
            ? ValidateOptionsResult.Fail(
                $"{nameof(MessagingOptions.RelayMaxRetryDelay)} ({options.RelayMaxRetryDelay}) must be at least {nameof(MessagingOptions.RelayRetryDelay)} ({options.RelayRetryDelay}).")
            : ValidateOptionsResult.Success;
}
