using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Idem.Http;

/// <summary>
/// The client's instruments, on a meter and an activity source of their own named <c>Idem</c> like the engine's: listeners
/// and OpenTelemetry select by name, so <c>.AddMeter("Idem")</c> and <c>.AddSource("Idem")</c> pick up both.
/// </summary>
internal static class ClientTelemetry
{
    public static readonly ActivitySource ActivitySource = new(IdemTelemetry.Name);
    public static readonly Meter Meter = new(IdemTelemetry.Name);

    public static readonly Counter<long> Attempts = Meter.CreateCounter<long>("idem.client.attempts", description: "Attempts sent by the client handler, first attempts included.");
    public static readonly Counter<long> Retries = Meter.CreateCounter<long>("idem.client.retries", description: "Attempts that failed and were retried with the same key; tagged with the reason.");
    public static readonly Counter<long> Replays = Meter.CreateCounter<long>("idem.client.replays", description: "Final responses the server marked Idempotent-Replayed.");
    public static readonly Counter<long> GaveUp = Meter.CreateCounter<long>("idem.client.gave_up", description: "Logical requests that still failed when attempts or the deadline ran out; tagged with what ran out.");

    public const string ReasonTag = "idem.retry.reason";
    public const string LimitTag = "idem.limit";
}
