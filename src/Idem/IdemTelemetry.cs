using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Idem;

/// <summary>
/// The <c>Idem</c> meter and activity source, so OpenTelemetry picks them up with no adapter
/// (<c>.AddMeter("Idem")</c>, <c>.AddSource("Idem")</c>).
/// </summary>
public static class IdemTelemetry
{
    /// <summary>The name of the meter and of the activity source.</summary>
    public const string Name = "Idem";

    internal static readonly ActivitySource ActivitySource = new(Name);
    internal static readonly Meter Meter = new(Name);

    internal static readonly Counter<long> Claims = Meter.CreateCounter<long>("idem.claims", description: "Keys claimed: the operation ran.");
    internal static readonly Counter<long> Replays = Meter.CreateCounter<long>("idem.replays", description: "Stored responses replayed.");
    internal static readonly Counter<long> Conflicts = Meter.CreateCounter<long>("idem.conflicts", description: "Requests refused because the first with their key was still running.");
    internal static readonly Counter<long> Mismatches = Meter.CreateCounter<long>("idem.mismatches", description: "Requests refused because their key belongs to a different request.");
    internal static readonly Counter<long> Releases = Meter.CreateCounter<long>("idem.releases", description: "Keys released after a failure so a retry can run.");
    internal static readonly Counter<long> LeaseLosses = Meter.CreateCounter<long>("idem.lease_losses", description: "Completes, releases or renewals refused because the lease was taken over.");
    internal static readonly Counter<long> StoreFailures = Meter.CreateCounter<long>("idem.store_failures", description: "Store calls that failed.");
    internal static readonly Histogram<double> StoreDuration = Meter.CreateHistogram<double>("idem.store.duration", unit: "s", description: "Duration of store calls.");
}
