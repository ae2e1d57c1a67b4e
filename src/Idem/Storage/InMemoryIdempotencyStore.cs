namespace Idem.Storage;

/// <summary>
/// A store in process memory: for tests, single-node services and caches in front of nothing. Keys are spread over
/// shards, and every step is one short critical section on its key's shard, so it is correct under any parallelism
/// within one process. Time comes from the injected <see cref="TimeProvider"/>.
/// </summary>
/// <remarks>
/// Records are kept where the garbage collector does not have to look at them. A record lives for its whole retention
/// (a day by default), so on a busy node the store holds millions; as objects, each would be found, marked and copied
/// from one generation to the next by every collection on its way to the oldest. Here a record is a plain struct in its
/// shard's hash table (no references, so the table is never scanned), and its variable parts (the key, the encoded
/// response) are bytes appended to large arrays shared by many records. A completed response is never written over:
/// a replay reads its body from the array without a copy, and space freed by removed records is reclaimed by copying
/// the live records to new arrays once it outweighs them.
/// </remarks>
public sealed partial class InMemoryIdempotencyStore : IIdempotencyStore
{
    // A power of two: a key's shard is the top bits of its hash.
    private const int ShardBits = 5;

    private readonly Shard[] _shards;
    private readonly TimeProvider _time;

    /// <summary>Creates a store on the given clock.</summary>
    public InMemoryIdempotencyStore(TimeProvider? timeProvider = null)
        : this(timeProvider, Shard.DefaultCompactionFloor)
    {
    }

    /// <summary>For tests: a store that reclaims freed space sooner.</summary>
    internal InMemoryIdempotencyStore(TimeProvider? timeProvider, long compactionFloor)
    {
        _time = timeProvider ?? TimeProvider.System;
        _shards = new Shard[1 << ShardBits];
        for (var i = 0; i < _shards.Length; i++)
        {
            _shards[i] = new Shard(compactionFloor);
        }
    }

    /// <summary>How many records are held, expired ones included until they are swept.</summary>
    public int Count
    {
        get
        {
            var count = 0;
            foreach (var shard in _shards)
            {
                lock (shard.Gate)
                {
                    count += shard.Records.Count;
                }
            }

            return count;
        }
    }

    /// <summary>For tests: how often freed space was reclaimed, and how many bytes the arenas hold.</summary>
    internal (int Compactions, long ArenaBytes) ArenaStatistics()
    {
        var (compactions, bytes) = (0, 0L);
        foreach (var shard in _shards)
        {
            lock (shard.Gate)
            {
                compactions += shard.Compactions;
                bytes += shard.ArenaBytes;
            }
        }

        return (compactions, bytes);
    }

    /// <inheritdoc/>
    public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ClaimRequest.ThrowIfInvalid(request);
        var key = new Probe(request.StoreKey);
        var shard = ShardOf(key);

        // The member digest is hashed only for a claim that writes the record, and not under the lock: a claim that finds
        // it must write without one yet hashes, then decides again.
        ReadOnlyMemory<byte>? members = null;
        if (!request.MemberDigestPending)
        {
            members = request.MemberDigest;
        }

        while (true)
        {
            if (TryClaim(shard, key, request, members, out var replay) is { } result)
            {
                return new(result);
            }

            if (replay.Array is not null)
            {
                return new(ClaimResult.Completed(IdempotencyResponseCodec.DecodeSharingBody(replay)));
            }

            members = request.MemberDigest;
        }
    }

    /// <summary>
    /// The claim's decision under the shard's lock. Null with <paramref name="replay"/> set for a completed record, whose
    /// response is decoded after the lock is let go; null without it when the claim writes and has no member digest yet.
    /// </summary>
    private ClaimResult? TryClaim(Shard shard, in Probe key, in ClaimRequest request, ReadOnlyMemory<byte>? members, out ArraySegment<byte> replay)
    {
        replay = default;
        lock (shard.Gate)
        {
            var now = Now();
            if (!shard.Lookup.TryGetValue(key, out var found, out var existing))
            {
                return members is { } digest ? ClaimResult.Claimed(shard.Add(key, request, digest.Span, now, out _)) : null;
            }

            if (existing.IsPastRetention(now))
            {
                // Past retention: the key is new again.
                return members is { } digest ? ClaimResult.Claimed(shard.Reclaim(found, existing, request, digest.Span, now)) : null;
            }

            if (!shard.FingerprintMatches(existing, request.Fingerprint))
            {
                return ClaimResult.Mismatch(shard.Members(existing).ToArray());
            }

            if (existing.ResponseLength < 0)
            {
                if (existing.LeaseExpiresAt > now)
                {
                    return ClaimResult.InProgress(TimeSpan.FromTicks(existing.LeaseExpiresAt - now));
                }

                // The holder's lease ran out (it crashed, stalled or released the key at a recovery point): take the key
                // over where it was left.
                return members is { } digest ? ClaimResult.Claimed(shard.TakeOver(found, existing, request, digest.Span, now)) : null;
            }

            // Replays are the hot path: the response is decoded after the lock is let go. Its bytes are never written
            // over, so they need no lock.
            var (array, offset, length) = shard.Response(existing);
            replay = new ArraySegment<byte>(array, offset, length);
            return null;
        }
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(response);
        ArgumentNullException.ThrowIfNull(lease);
        var key = new Probe(lease.StoreKey);
        var shard = ShardOf(key);
        lock (shard.Gate)
        {
            if (!shard.Lookup.TryGetValue(key, out var found, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            var completed = existing;
            completed.Owner = default;
            completed.HasOwner = false;
            completed.ExpiresAt = Now() + lease.Retention.Ticks;
            shard.Replace(found, existing, completed, shard.FingerprintText(existing), shard.RecoveryPoint(existing), shard.Members(existing), response);
            return new(LeaseStatus.Ok);
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
        var key = new Probe(lease.StoreKey);
        var shard = ShardOf(key);
        lock (shard.Gate)
        {
            if (!shard.Lookup.TryGetValue(key, out var found, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            if (existing.RecoveryLength >= 0)
            {
                // Parked at its recovery point: nobody holds it, and the next claim takes it over at once.
                ref var record = ref shard.Find(found);
                record.Owner = default;
                record.HasOwner = false;
                record.LeaseExpiresAt = Now();
                return new(LeaseStatus.Ok);
            }

            shard.Remove(found, existing);
            return new(LeaseStatus.Ok);
        }
    }

    /// <inheritdoc/>
    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storeKey);
        var key = new Probe(storeKey);
        var shard = ShardOf(key);
        lock (shard.Gate)
        {
            var now = Now();
            if (!shard.Lookup.TryGetValue(key, out _, out var entry) || entry.IsPastRetention(now))
            {
                return new((IdempotencyRecord?)null);
            }

            var completed = entry.ResponseLength >= 0;
            IdempotencyResponse? response = null;
            if (completed)
            {
                var (array, offset, length) = shard.Response(entry);
                response = IdempotencyResponseCodec.DecodeSharingBody(new ReadOnlyMemory<byte>(array, offset, length));
            }

            return new(new IdempotencyRecord
            {
                StoreKey = storeKey,
                Fingerprint = shard.FingerprintText(entry) ?? entry.Fingerprint.ToString(),
                State = completed ? IdempotencyRecordState.Completed : IdempotencyRecordState.InProgress,
                CreatedAt = Time(entry.CreatedAt),
                ExpiresAt = Time(entry.ExpiresAt),
                LeaseExpiresAt = completed ? null : Time(entry.LeaseExpiresAt),
                RecoveryPoint = shard.RecoveryPoint(entry),
                MemberDigest = shard.Members(entry).ToArray(),
                Response = response,
            });
        }
    }

    /// <inheritdoc/>
    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var before = expiredBefore.UtcTicks;
        var purged = 0;
        foreach (var shard in _shards)
        {
            if (purged == batchSize)
            {
                break;
            }

            cancellationToken.ThrowIfCancellationRequested();
            lock (shard.Gate)
            {
                purged += shard.Purge(before, batchSize - purged);
            }
        }

        return new(purged);
    }

    // Renews the lease, and records a recovery point when one is given.
    private ValueTask<LeaseStatus> Update(IdempotencyLease lease, string? recoveryPoint)
    {
        ArgumentNullException.ThrowIfNull(lease);
        var key = new Probe(lease.StoreKey);
        var shard = ShardOf(key);
        lock (shard.Gate)
        {
            if (!shard.Lookup.TryGetValue(key, out var found, out var existing) || !existing.IsHeldBy(lease.OwnerToken))
            {
                return new(LeaseStatus.LeaseLost);
            }

            var leaseEnd = Now() + lease.LeaseDuration.Ticks;
            var renewed = existing;
            renewed.LeaseExpiresAt = leaseEnd;
            renewed.ExpiresAt = Math.Max(existing.ExpiresAt, leaseEnd);
            if (recoveryPoint is null)
            {
                shard.Find(found) = renewed;
            }
            else
            {
                shard.Replace(found, existing, renewed, shard.FingerprintText(existing), recoveryPoint, shard.Members(existing), response: null);
            }

            return new(LeaseStatus.Ok);
        }
    }

    private Shard ShardOf(in Probe key) => _shards[(uint)key.Hash >> (32 - ShardBits)];

    private long Now() => _time.GetUtcNow().UtcTicks;

    private static DateTimeOffset Time(long utcTicks) => new(utcTicks, TimeSpan.Zero);
}
