using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Idem;

/// <summary>
/// The executor's instruments, on a meter named <see cref="IdemTelemetry.Name"/> made by the host's
/// <see cref="IMeterFactory"/> (or a meter of its own where the host has none). One method per event, so no call site
/// repeats an instrument or a tag.
/// </summary>
internal sealed class IdempotencyMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly Counter<long> _claims;
    private readonly Counter<long> _replays;
    private readonly Counter<long> _conflicts;
    private readonly Counter<long> _mismatches;
    private readonly Counter<long> _releases;
    private readonly Counter<long> _leaseLosses;
    private readonly Counter<long> _abandons;
    private readonly Counter<long> _storeFailures;
    private readonly Histogram<double> _storeDuration;
    private readonly Histogram<long> _batchSize;
    private readonly Histogram<long> _storeBatchSize;

    public IdempotencyMetrics(IMeterFactory? factory)
    {
        _meter = factory?.Create(IdemTelemetry.Name) ?? new Meter(IdemTelemetry.Name);
        _claims = _meter.CreateCounter<long>("idem.claims", description: "Keys claimed: the operation ran.");
        _replays = _meter.CreateCounter<long>("idem.replays", description: "Stored results replayed.");
        _conflicts = _meter.CreateCounter<long>("idem.conflicts", description: "Operations refused because the first with their key was still running.");
        _mismatches = _meter.CreateCounter<long>("idem.mismatches", description: "Operations refused because their key belongs to a different operation.");
        _releases = _meter.CreateCounter<long>("idem.releases", description: "Keys released after a failure so a retry can run.");
        _leaseLosses = _meter.CreateCounter<long>("idem.lease_losses", description: "Completes, releases or renewals refused because the lease was taken over.");
        _abandons = _meter.CreateCounter<long>("idem.abandons", description: "Keys left in progress until their lease ends because the operation's outcome was unknown.");
        _storeFailures = _meter.CreateCounter<long>("idem.store_failures", description: "Store calls that failed.");
        _storeDuration = _meter.CreateHistogram<double>("idem.store.duration", unit: "s", description: "Duration of store calls.");
        _batchSize = _meter.CreateHistogram<long>("idem.group_commit.operations", unit: "{operation}", description: "Operations made durable by one group commit.");
        _storeBatchSize = _meter.CreateHistogram<long>("idem.batch.operations", unit: "{operation}", description: "Claims or completions sent to the store in one batched call.");
    }

    /// <summary>Used where no host gives a meter factory: a store or a keeper made by hand.</summary>
    public static IdempotencyMetrics Shared { get; } = new(null);

    public bool TimesStoreCalls => _storeDuration.Enabled;

    public void Claimed() => _claims.Add(1);

    public void Replayed() => _replays.Add(1);

    public void Conflicted() => _conflicts.Add(1);

    public void Mismatched() => _mismatches.Add(1);

    public void Released() => _releases.Add(1);

    public void LeaseLost() => _leaseLosses.Add(1);

    public void Abandoned() => _abandons.Add(1);

    public void StoreFailed() => _storeFailures.Add(1);

    public void StoreCall(TimeSpan elapsed) => _storeDuration.Record(elapsed.TotalSeconds);

    public void GroupCommitted(int operations) => _batchSize.Record(operations);

    /// <summary>One batched store call: <paramref name="step"/> is <c>claim</c> or <c>complete</c>.</summary>
    public void Batched(string step, int operations) => _storeBatchSize.Record(operations, new KeyValuePair<string, object?>("idem.step", step));

    /// <summary>The activity of one operation under a key; null when nobody listens.</summary>
    public static Activity? StartOperation() => IdemTelemetry.ActivitySource.StartActivity("idem.operation");

    public static void SetOutcome(Activity? activity, string outcome) => activity?.SetTag("idem.outcome", outcome);

    public void Dispose() => _meter.Dispose();
}
