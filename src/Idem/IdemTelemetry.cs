using System.Diagnostics;

namespace Idem;

/// <summary>
/// The names Idem's telemetry uses, so OpenTelemetry picks it up with no adapter (<c>.AddMeter("Idem")</c>,
/// <c>.AddSource("Idem")</c>). Each operation under a key is an activity named <c>idem.operation</c> with an
/// <c>idem.outcome</c> tag; the counters are <c>idem.claims</c>, <c>idem.replays</c>, <c>idem.conflicts</c>,
/// <c>idem.mismatches</c>, <c>idem.releases</c>, <c>idem.lease_losses</c> and <c>idem.store_failures</c>, and
/// <c>idem.store.duration</c> times store calls while someone listens.
/// </summary>
public static class IdemTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "Idem";

    internal static readonly ActivitySource ActivitySource = new(Name);
}
