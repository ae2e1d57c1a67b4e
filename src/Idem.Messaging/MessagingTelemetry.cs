using System.Diagnostics.Metrics;

namespace Idem.Messaging;

/// <summary>
/// Messaging's counters, on a meter named <see cref="IdemTelemetry.Name"/> like the rest of Idem, so
/// <c>.AddMeter("Idem")</c> picks them up. Tagged with the consumer's name where there is one.
/// </summary>
internal static class MessagingTelemetry
{
    private static readonly Meter Meter = new(IdemTelemetry.Name);

    public static readonly Counter<long> Published = Meter.CreateCounter<long>("idem.outbox.published", description: "Outbox messages the broker confirmed and the relay marked published.");
    public static readonly Counter<long> PublishFailures = Meter.CreateCounter<long>("idem.outbox.publish_failures", description: "Outbox publishes that failed and wait for the next relay pass.");
    public static readonly Counter<long> Handled = Meter.CreateCounter<long>("idem.inbox.handled", description: "Deliveries whose handler ran and committed with the inbox record.");
    public static readonly Counter<long> Duplicates = Meter.CreateCounter<long>("idem.inbox.duplicates", description: "Redeliveries skipped because the inbox already held the message.");
    public static readonly Counter<long> HandlerFailures = Meter.CreateCounter<long>("idem.inbox.handler_failures", description: "Handler runs that failed and rolled back.");
    public static readonly Counter<long> DeadLettered = Meter.CreateCounter<long>("idem.inbox.dead_lettered", description: "Messages moved to the dead-letter after their last allowed attempt.");

    public static KeyValuePair<string, object?> Consumer(string name) => new("idem.consumer", name);
}
