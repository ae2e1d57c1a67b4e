using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Idem.Storage;

/// <summary>
/// A store in process memory: for tests, single-node services and caches in front of nothing. Every step is one
/// compare-and-swap on a concurrent dictionary, so it is correct under any parallelism within one process. Time comes
/// from the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// A record is kept as few objects as possible, because every record lives for its whole retention and the garbage
/// collector copies and marks each object that survives: the entry is a struct inside the dictionary's node, the
/// fingerprint is 32 raw bytes in it, and a completed response is one encoded array (<see cref="IdempotencyResponseCodec"/>)
/// that replays read their body from without a copy. A kept record is three objects: the node, the key and the array.
/// </remarks>
public sealed class InMemoryIdempotencyStore : IIdempotencyStore
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;
    private long _version;

    /// <summary>Creates a store on the given clock.</summary>
    public InMemoryIdempotencyStore(TimeProvider? timeProvider = null) => _time = timeProvider ?? TimeProvider.System;

    /// <summary>How many records are held, expired ones included until they are swept.</summary>
    public int Count => _entries.Count;

    /// <inheritdoc/>
    public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // The lease (and its random owner token) is made only when the key is taken: a replay, a conflict or a mismatch
        // needs none, and replays are the hot path. A retry of the compare-and-swap keeps the same token: it is still the
        // same claim, and none of its attempts took effect.
        IdempotencyLease? lease = null;
        while (true)
        {
            var now = Now();
            if (!_entries.TryGetValue(request.StoreKey, out var existing))
            {
                lease ??= NewLease(request);
                if (_entries.TryAdd(request.StoreKey, Claimed(request, lease, now, now, null)))
                {
                    return new(ClaimResult.Claimed(lease));
                }

                continue;
            }

            if (existing.IsPastRetention(now))
            {
                // Past retention: the key is new again.
                lease ??= NewLease(request);
                if (_entries.TryUpdate(request.StoreKey, Claimed(request, lease, now, now, null), existing))
                {
                    return new(ClaimResult.Claimed(lease));
                }

                continue;
            }

            if (!existing.Fingerprint.Matches(request.Fingerprint))
            {
                return new(ClaimResult.Mismatch());
            }

            if (existing.Response is not null)
            {
                return new(ClaimResult.Completed(IdempotencyResponseCodec.DecodeSharingBody(existing.Response)));
            }

            if (existing.LeaseExpiresAt > now)
            {
                return new(ClaimResult.InProgress(TimeSpan.FromTicks(existing.LeaseExpiresAt - now)));
            }

            // The holder's lease ran out (it crashed, stalled or released the key at a recovery point): take the key over
            // where it was left.
            lease ??= NewLease(request);
            var takeover = existing.RecoveryPoint is null ? lease : lease with { RecoveryPoint = existing.RecoveryPoint };
            if (_entries.TryUpdate(request.StoreKey, Claimed(request, lease, now, existing.CreatedAt, existing.RecoveryPoint), existing))
            {
                return new(ClaimResult.Claimed(takeover));
            }
        }
    }

    private static IdempotencyLease NewLease(ClaimRequest request)
        => new(request.StoreKey, OwnerToken.New(), request.Retention, request.LeaseDuration);

    private Entry Claimed(ClaimRequest request, IdempotencyLease lease, long now, long createdAt, string? recoveryPoint) => new()
    {
        Version = NextVersion(),
        Fingerprint = StoredFingerprint.From(request.Fingerprint),
        OwnerToken = lease.OwnerToken,
        CreatedAt = createdAt,
        LeaseExpiresAt = now + request.LeaseDuration.Ticks,
        ExpiresAt = now + Max(request.Retention, request.LeaseDuration).Ticks,
        RecoveryPoint = recoveryPoint,
    };

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(lease);

        // Encoded once, outside the compare-and-swap loop.
        var encoded = IdempotencyResponseCodec.Encode(response);
        while (true)
        {
            var now = Now();
            if (!_entries.TryGetValue(lease.StoreKey, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            var completed = existing with { Version = NextVersion(), Response = encoded, OwnerToken = null, ExpiresAt = now + lease.Retention.Ticks };
            if (_entries.TryUpdate(lease.StoreKey, completed, existing))
            {
                return new(LeaseStatus.Ok);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
        => Update(lease, null);

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        return Update(lease, recoveryPoint);
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        while (true)
        {
            if (!_entries.TryGetValue(lease.StoreKey, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            if (existing.RecoveryPoint is not null)
            {
                // Parked at its recovery point: nobody holds it, and the next claim takes it over at once.
                if (_entries.TryUpdate(lease.StoreKey, existing with { Version = NextVersion(), OwnerToken = null, LeaseExpiresAt = Now() }, existing))
                {
                    return new(LeaseStatus.Ok);
                }

                continue;
            }

            if (_entries.TryRemove(new KeyValuePair<string, Entry>(lease.StoreKey, existing)))
            {
                return new(LeaseStatus.Ok);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default)
    {
        var now = Now();
        if (!_entries.TryGetValue(storeKey, out var entry) || entry.IsPastRetention(now))
        {
            return new((IdempotencyRecord?)null);
        }

        return new(new IdempotencyRecord
        {
            StoreKey = storeKey,
            Fingerprint = entry.Fingerprint.ToString(),
            State = entry.Response is null ? IdempotencyRecordState.InProgress : IdempotencyRecordState.Completed,
            CreatedAt = Time(entry.CreatedAt),
            ExpiresAt = Time(entry.ExpiresAt),
            LeaseExpiresAt = entry.Response is null ? Time(entry.LeaseExpiresAt) : null,
            RecoveryPoint = entry.RecoveryPoint,
            Response = entry.Response is null ? null : IdempotencyResponseCodec.DecodeSharingBody(entry.Response),
        });
    }

    /// <inheritdoc/>
    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var before = expiredBefore.UtcTicks;
        var purged = 0;
        foreach (var pair in _entries)
        {
            if (purged == batchSize)
            {
                break;
            }

            var entry = pair.Value;
            if (entry.ExpiresAt < before && (entry.Response is not null || entry.LeaseExpiresAt < before)
                && _entries.TryRemove(pair))
            {
                purged++;
            }
        }

        return new(purged);
    }

    // Renews the lease, and records a recovery point when one is given.
    private ValueTask<LeaseStatus> Update(IdempotencyLease lease, string? recoveryPoint)
    {
        ArgumentNullException.ThrowIfNull(lease);
        while (true)
        {
            var now = Now();
            if (!_entries.TryGetValue(lease.StoreKey, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            var leaseEnd = now + lease.LeaseDuration.Ticks;
            var renewed = existing with
            {
                Version = NextVersion(),
                LeaseExpiresAt = leaseEnd,
                ExpiresAt = Math.Max(existing.ExpiresAt, leaseEnd),
                RecoveryPoint = recoveryPoint ?? existing.RecoveryPoint,
            };

            if (_entries.TryUpdate(lease.StoreKey, renewed, existing))
            {
                return new(LeaseStatus.Ok);
            }
        }
    }

    private long Now() => _time.GetUtcNow().UtcTicks;

    private long NextVersion() => Interlocked.Increment(ref _version);

    private static DateTimeOffset Time(long utcTicks) => new(utcTicks, TimeSpan.Zero);

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// One record, held inside the dictionary's node. Every change stores a copy with a new <see cref="Version"/>, and
    /// equality is the version alone, so TryUpdate and TryRemove succeed only against the exact record that was read.
    /// Times are UTC ticks.
    /// </summary>
    private readonly record struct Entry : IEquatable<Entry>
    {
        public long Version { get; init; }

        public StoredFingerprint Fingerprint { get; init; }

        public string? OwnerToken { get; init; }

        public long CreatedAt { get; init; }

        public long LeaseExpiresAt { get; init; }

        public long ExpiresAt { get; init; }

        /// <summary>The completed response, encoded; null while in progress.</summary>
        public byte[]? Response { get; init; }

        public string? RecoveryPoint { get; init; }

        // An owner keeps its key even past the lease until someone takes it over: completing late is harmless when nobody else ran.
        public bool IsHeldBy(string ownerToken) => Response is null && string.Equals(OwnerToken, ownerToken, StringComparison.Ordinal);

        public bool IsPastRetention(long now) => ExpiresAt <= now && (Response is not null || LeaseExpiresAt <= now);

        public bool Equals(Entry other) => Version == other.Version;

        public override int GetHashCode() => Version.GetHashCode();
    }

    /// <summary>
    /// A fingerprint kept inside its entry: the usual 64 lowercase hex characters as 32 raw bytes, so a kept record is one
    /// object fewer (and 120 bytes smaller) for the GC to copy; any other string as it came.
    /// </summary>
    private readonly struct StoredFingerprint
    {
        private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

        private readonly ulong _a;
        private readonly ulong _b;
        private readonly ulong _c;
        private readonly ulong _d;
        private readonly string? _text;
        private readonly bool _isText;

        private StoredFingerprint(ReadOnlySpan<ulong> digest, string? text, bool isText)
        {
            if (!isText)
            {
                (_a, _b, _c, _d) = (digest[0], digest[1], digest[2], digest[3]);
            }

            _text = text;
            _isText = isText;
        }

        public static StoredFingerprint From(string? fingerprint)
        {
            Span<ulong> digest = stackalloc ulong[4];
            return TryParse(fingerprint, digest) ? new(digest, null, isText: false) : new(default, fingerprint, isText: true);
        }

        public bool Matches(string? fingerprint)
        {
            if (_isText)
            {
                return string.Equals(_text, fingerprint, StringComparison.Ordinal);
            }

            Span<ulong> digest = stackalloc ulong[4];
            return TryParse(fingerprint, digest) && digest[0] == _a && digest[1] == _b && digest[2] == _c && digest[3] == _d;
        }

        public override string ToString()
        {
            if (_isText)
            {
                return _text!;
            }

            Span<ulong> digest = [_a, _b, _c, _d];
            return Convert.ToHexStringLower(MemoryMarshal.AsBytes(digest));
        }

        // Only the exact form ToString gives back: 64 characters of lowercase hex.
        private static bool TryParse(string? fingerprint, Span<ulong> digest)
            => fingerprint is { Length: 64 } && !fingerprint.AsSpan().ContainsAnyExcept(LowerHex)
                && Convert.FromHexString(fingerprint, MemoryMarshal.AsBytes(digest), out _, out var written) == System.Buffers.OperationStatus.Done && written == 32;
    }
}
