using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Idem.AspNetCore;
using Idem.Payments.Auth;

namespace Idem.Payments.Console;

/// <summary>What Idem did with a keyed request, as the console's chart shows it.</summary>
internal enum Outcome
{
    /// <summary><c>idem.claims</c>: the key was claimed and the handler ran.</summary>
    Executed,

    /// <summary><c>idem.replays</c>: a stored response was replayed.</summary>
    Replayed,

    /// <summary><c>idem.conflicts</c>: 409, the first request with the key was still running.</summary>
    InProgress,

    /// <summary><c>idem.mismatches</c>: 422, the key belongs to a different request.</summary>
    Mismatch,

    /// <summary><c>idem.store_failures</c>: 503, the store could not be reached or could not record the result.</summary>
    StoreUnavailable,
}

/// <summary>
/// Per-tenant, per-minute counts of the engine's own outcome counters, for the last hour, in memory. The <c>Idem</c>
/// meter carries no tenant (a tag per tenant would be unbounded), so a <see cref="MeterListener"/> reads each
/// measurement as it is recorded, in the request's own flow, where <see cref="Middleware"/> has put the tenant. Only
/// the meter this app's <see cref="IMeterFactory"/> made is heard: the processor simulator beside the service, and
/// other apps in the process, have their own. A node counts its own requests; nothing is kept across restarts.
/// </summary>
internal sealed class TenantOutcomes : IDisposable
{
    public const int Minutes = 60;

    private static readonly AsyncLocal<string?> CurrentTenant = new();

    private readonly Dictionary<string, Outcome> _instruments = new(StringComparer.Ordinal)
    {
        ["idem.claims"] = Outcome.Executed,
        ["idem.replays"] = Outcome.Replayed,
        ["idem.conflicts"] = Outcome.InProgress,
        ["idem.mismatches"] = Outcome.Mismatch,
        ["idem.store_failures"] = Outcome.StoreUnavailable,
    };

    private readonly ConcurrentDictionary<string, TenantSeries> _tenants = new(StringComparer.Ordinal);
    private readonly MeterListener _listener;
    private readonly TimeProvider _time;
    private long _sweptMinute;

    public TenantOutcomes(IMeterFactory meters, TimeProvider time)
    {
        _time = time;
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Meter.Name == IdemTelemetry.Name && ReferenceEquals(instrument.Meter.Scope, meters)
                    && _instruments.TryGetValue(instrument.Name, out var outcome))
                {
                    listener.EnableMeasurementEvents(instrument, outcome);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, state) => Record((Outcome)state!, value));
        _listener.Start();
    }

    /// <summary>
    /// Runs the rest of a keyed request with the authenticated caller's tenant as the current one. Other requests (the
    /// console's own action runs the completer's claim, say) are not the tenant's API traffic and are not counted.
    /// </summary>
    public static async Task Middleware(HttpContext context, RequestDelegate next)
    {
        if (context.User.Identity?.IsAuthenticated == true && context.GetEndpoint()?.GetIdempotencyRouteTemplate() is not null)
        {
            EnterTenant(Tenants.Of(context.User));
        }

        await next(context).ConfigureAwait(false);
    }

    /// <summary>Makes <paramref name="tenantId"/> the current flow's tenant: what Idem records from here on in this flow counts for it.</summary>
    internal static void EnterTenant(string tenantId) => CurrentTenant.Value = tenantId;

    /// <summary>The tenant's counts per minute, oldest first, the last being the current minute; index by <see cref="Outcome"/>.</summary>
    public OutcomeMinute[] LastHour(string tenantId)
    {
        var now = MinuteOf(_time.GetUtcNow());
        var result = new OutcomeMinute[Minutes];
        _tenants.TryGetValue(tenantId, out var series);
        for (var i = 0; i < Minutes; i++)
        {
            var minute = now - (Minutes - 1 - i);
            result[i] = new OutcomeMinute(DateTimeOffset.FromUnixTimeSeconds(minute * 60), series?.Read(minute) ?? new long[5]);
        }

        return result;
    }

    public void Dispose() => _listener.Dispose();

    private static long MinuteOf(DateTimeOffset time) => time.ToUnixTimeSeconds() / 60;

    /// <summary>How many tenants have counts kept: those with requests in the last hour, give or take a minute.</summary>
    internal int TenantCount => _tenants.Count;

    private void Record(Outcome outcome, long value)
    {
        if (CurrentTenant.Value is not { } tenant)
        {
            return;
        }

        var minute = MinuteOf(_time.GetUtcNow());
        _tenants.GetOrAdd(tenant, static _ => new TenantSeries()).Add(minute, outcome, value);

        // Once a minute, forget the tenants with nothing in the last hour, so memory follows the active tenants only.
        var swept = Volatile.Read(ref _sweptMinute);
        if (swept != minute && Interlocked.CompareExchange(ref _sweptMinute, minute, swept) == swept)
        {
            foreach (var (id, series) in _tenants)
            {
                if (series.LastMinute <= minute - Minutes)
                {
                    _tenants.TryRemove(new KeyValuePair<string, TenantSeries>(id, series));
                }
            }
        }
    }

    // A ring of the last hour's minutes; a slot is reset when a new minute takes it over.
    private sealed class TenantSeries
    {
        private readonly Lock _gate = new();
        private readonly long[] _minuteOfSlot = new long[Minutes];
        private readonly long[,] _counts = new long[Minutes, 5];
        private long _lastMinute;

        public long LastMinute => Volatile.Read(ref _lastMinute);

        public void Add(long minute, Outcome outcome, long value)
        {
            var slot = (int)(minute % Minutes);
            lock (_gate)
            {
                if (_minuteOfSlot[slot] != minute)
                {
                    _minuteOfSlot[slot] = minute;
                    for (var i = 0; i < 5; i++)
                    {
                        _counts[slot, i] = 0;
                    }
                }

                _counts[slot, (int)outcome] += value;
                Volatile.Write(ref _lastMinute, Math.Max(_lastMinute, minute));
            }
        }

        public long[] Read(long minute)
        {
            var slot = (int)(minute % Minutes);
            var counts = new long[5];
            lock (_gate)
            {
                if (_minuteOfSlot[slot] == minute)
                {
                    for (var i = 0; i < 5; i++)
                    {
                        counts[i] = _counts[slot, i];
                    }
                }
            }

            return counts;
        }
    }
}

/// <summary>One minute of one tenant's outcomes, counted by <see cref="Outcome"/>.</summary>
internal sealed record OutcomeMinute(DateTimeOffset Start, long[] Counts)
{
    public long this[Outcome outcome] => Counts[(int)outcome];
}
