using System.Buffers;
using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace Idem.Storage;

/// <summary>
/// A store in process memory: for tests, single-node services and caches in front of nothing. Every step is one
/// compare-and-swap on a concurrent dictionary, so it is correct under any parallelism within one process. Time comes
/// from the injected <see cref="TimeProvider"/>.
/// </summary>
public sealed class InMemoryIdempotencyStore : IIdempotencyStore
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _time;

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
            var now = _time.GetUtcNow();
            if (!_entries.TryGetValue(request.StoreKey, out var existing))
            {
                lease ??= NewLease(request);
                if (_entries.TryAdd(request.StoreKey, Claimed(request, lease, now)))
                {
                    return new(ClaimResult.Claimed(lease));
                }

                continue;
            }

            if (existing.ExpiresAt <= now && (existing.Response is not null || existing.LeaseExpiresAt <= now))
            {
                // Past retention: the key is new again.
                lease ??= NewLease(request);
                if (_entries.TryUpdate(request.StoreKey, Claimed(request, lease, now), existing))
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
                return new(ClaimResult.Completed(existing.Response));
            }

            if (existing.LeaseExpiresAt > now)
            {
                return new(ClaimResult.InProgress(existing.LeaseExpiresAt - now));
            }

            // The holder's lease ran out (it crashed, stalled or released the key at a recovery point): take the key over
            // where it was left.
            lease ??= NewLease(request);
            var takeover = existing.RecoveryPoint is null ? lease : lease with { RecoveryPoint = existing.RecoveryPoint };
            if (_entries.TryUpdate(request.StoreKey, Claimed(request, lease, now) with { CreatedAt = existing.CreatedAt, RecoveryPoint = existing.RecoveryPoint }, existing))
            {
                return new(ClaimResult.Claimed(takeover));
            }
        }
    }

    private static IdempotencyLease NewLease(ClaimRequest request)
        => new(request.StoreKey, OwnerToken.New(), request.Retention, request.LeaseDuration);

    private static Entry Claimed(ClaimRequest request, IdempotencyLease lease, DateTimeOffset now)
        => new(StoredFingerprint.From(request.Fingerprint), lease.OwnerToken, now, now + request.LeaseDuration, now + Max(request.Retention, request.LeaseDuration), null, null);

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(lease);

        // Update's loop without its delegate: completing is on every first execution's path.
        while (true)
        {
            var now = _time.GetUtcNow();
            if (!_entries.TryGetValue(lease.StoreKey, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            if (_entries.TryUpdate(lease.StoreKey, existing with { Response = response, OwnerToken = null, ExpiresAt = now + lease.Retention }, existing))
            {
                return new(LeaseStatus.Ok);
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
        => Update(lease, (entry, now) => Renewed(entry, lease, now));

    private static Entry Renewed(Entry entry, IdempotencyLease lease, DateTimeOffset now) => entry with
    {
        LeaseExpiresAt = now + lease.LeaseDuration,
        ExpiresAt = entry.ExpiresAt < now + lease.LeaseDuration ? now + lease.LeaseDuration : entry.ExpiresAt,
    };

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        return Update(lease, (entry, now) => Renewed(entry, lease, now) with { RecoveryPoint = recoveryPoint });
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
                var now = _time.GetUtcNow();
                if (_entries.TryUpdate(lease.StoreKey, existing with { OwnerToken = null, LeaseExpiresAt = now }, existing))
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
        var now = _time.GetUtcNow();
        if (!_entries.TryGetValue(storeKey, out var entry) || entry.IsPastRetention(now))
        {
            return new((IdempotencyRecord?)null);
        }

        return new(new IdempotencyRecord
        {
            StoreKey = storeKey,
            Fingerprint = entry.Fingerprint.ToString(),
            State = entry.Response is null ? IdempotencyRecordState.InProgress : IdempotencyRecordState.Completed,
            CreatedAt = entry.CreatedAt,
            ExpiresAt = entry.ExpiresAt,
            LeaseExpiresAt = entry.Response is null ? entry.LeaseExpiresAt : null,
            RecoveryPoint = entry.RecoveryPoint,
            Response = entry.Response,
        });
    }

    /// <inheritdoc/>
    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var purged = 0;
        foreach (var pair in _entries)
        {
            if (purged == batchSize)
            {
                break;
            }

            var entry = pair.Value;
            if (entry.ExpiresAt < expiredBefore && (entry.Response is not null || entry.LeaseExpiresAt < expiredBefore)
                && _entries.TryRemove(pair))
            {
                purged++;
            }
        }

        return new(purged);
    }

    private ValueTask<LeaseStatus> Update(IdempotencyLease lease, Func<Entry, DateTimeOffset, Entry> change)
    {
        ArgumentNullException.ThrowIfNull(lease);
        while (true)
        {
            var now = _time.GetUtcNow();
            if (!_entries.TryGetValue(lease.StoreKey, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            if (_entries.TryUpdate(lease.StoreKey, change(existing, now), existing))
            {
                return new(LeaseStatus.Ok);
            }
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    // A record is immutable; every change swaps in a new one, so TryUpdate/TryRemove compare by reference.
    private sealed record Entry(StoredFingerprint Fingerprint, string? OwnerToken, DateTimeOffset CreatedAt, DateTimeOffset LeaseExpiresAt, DateTimeOffset ExpiresAt, IdempotencyResponse? Response, string? RecoveryPoint)
    {
        // An owner keeps its key even past the lease until someone takes it over: completing late is harmless when nobody else ran.
        public bool IsHeldBy(string ownerToken) => Response is null && string.Equals(OwnerToken, ownerToken, StringComparison.Ordinal);

        public bool IsPastRetention(DateTimeOffset now) => ExpiresAt <= now && (Response is not null || LeaseExpiresAt <= now);

        public bool Equals(Entry? other) => ReferenceEquals(this, other);

        public override int GetHashCode() => System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(this);
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
