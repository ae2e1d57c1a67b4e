using System.Buffers;
using System.Runtime.InteropServices;

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
public sealed class InMemoryIdempotencyStore : IIdempotencyStore
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
        byte[]? replay;
        int offset, length;
        lock (shard.Gate)
        {
            var now = Now();
            if (!shard.Lookup.TryGetValue(key, out var found, out var existing))
            {
                return new(ClaimResult.Claimed(shard.Add(key, request, now, out _)));
            }

            if (existing.IsPastRetention(now))
            {
                // Past retention: the key is new again.
                return new(ClaimResult.Claimed(shard.Reclaim(found, existing, request, now)));
            }

            if (!shard.FingerprintMatches(existing, request.Fingerprint))
            {
                return new(ClaimResult.Mismatch());
            }

            if (existing.ResponseLength < 0)
            {
                if (existing.LeaseExpiresAt > now)
                {
                    return new(ClaimResult.InProgress(TimeSpan.FromTicks(existing.LeaseExpiresAt - now)));
                }

                // The holder's lease ran out (it crashed, stalled or released the key at a recovery point): take the key
                // over where it was left.
                return new(ClaimResult.Claimed(shard.TakeOver(found, existing, request, now)));
            }

            // Replays are the hot path: the response is decoded after the lock is let go. Its bytes are never written
            // over, so they need no lock.
            (replay, offset, length) = shard.Response(existing);
        }

        return new(ClaimResult.Completed(IdempotencyResponseCodec.DecodeSharingBody(new ReadOnlyMemory<byte>(replay, offset, length))));
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
            shard.Replace(found, existing, completed, shard.FingerprintText(existing), shard.RecoveryPoint(existing), response);
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
                shard.Replace(found, existing, renewed, shard.FingerprintText(existing), recoveryPoint, response: null);
            }

            return new(LeaseStatus.Ok);
        }
    }

    private Shard ShardOf(in Probe key) => _shards[(uint)key.Hash >> (32 - ShardBits)];

    private long Now() => _time.GetUtcNow().UtcTicks;

    private static DateTimeOffset Time(long utcTicks) => new(utcTicks, TimeSpan.Zero);

    /// <summary>A key being looked up: its characters and its hash, computed once.</summary>
    private readonly ref struct Probe
    {
        public Probe(string key)
        {
            Key = key;
            Hash = string.GetHashCode(key.AsSpan());
        }

        public ReadOnlySpan<char> Key { get; }

        // Randomised per process (Marvin), so clients cannot choose keys that all land in one bucket.
        public int Hash { get; }
    }

    /// <summary>Where a key's characters are kept in its shard's arena, with its hash.</summary>
    private readonly record struct KeyRef(int Hash, int Chunk, int Offset, int Length);

    /// <summary>
    /// One record. Times are UTC ticks. Its variable parts sit in one block of the shard's arena, in this order: the
    /// fingerprint when it is not the usual hex digest, the recovery point, the encoded response; a length of -1 means
    /// the part is absent.
    /// </summary>
    private struct Record
    {
        public long CreatedAt;
        public long LeaseExpiresAt;
        public long ExpiresAt;
        public Digest Fingerprint;
        public int DataChunk;
        public int DataOffset;
        public int FingerprintLength;
        public int RecoveryLength;
        public int ResponseLength;
        public bool HasOwner;

        // Two words rather than a UInt128, which is aligned to 16 bytes and would pad every record in the table.
        private ulong _ownerLow;
        private ulong _ownerHigh;

        public UInt128 Owner
        {
            readonly get => new(_ownerHigh, _ownerLow);
            set => (_ownerHigh, _ownerLow) = ((ulong)(value >> 64), (ulong)value);
        }

        public readonly int DataSize => Chars(FingerprintLength) + Chars(RecoveryLength) + Math.Max(0, ResponseLength);

        // An owner keeps its key even past the lease until someone takes it over: completing late is harmless when nobody else ran.
        public readonly bool IsHeldBy(string ownerToken)
            => ResponseLength < 0 && HasOwner && Digest.TryParseOwner(ownerToken, out var token) && token == Owner;

        public readonly bool IsPastRetention(long now) => ExpiresAt <= now && (ResponseLength >= 0 || LeaseExpiresAt <= now);

        private static int Chars(int length) => Math.Max(0, length) * sizeof(char);
    }

    /// <summary>
    /// A fingerprint or owner token in its raw form: the usual lowercase hex text as bytes, half the size and no object.
    /// </summary>
    private readonly struct Digest : IEquatable<Digest>
    {
        private static readonly SearchValues<char> LowerHex = SearchValues.Create("0123456789abcdef");

        private readonly ulong _a;
        private readonly ulong _b;
        private readonly ulong _c;
        private readonly ulong _d;

        private Digest(ReadOnlySpan<ulong> raw) => (_a, _b, _c, _d) = (raw[0], raw[1], raw[2], raw[3]);

        /// <summary>Only the exact form <see cref="ToString"/> gives back: 64 characters of lowercase hex.</summary>
        public static bool TryParse(string? text, out Digest digest)
        {
            Span<ulong> raw = stackalloc ulong[4];
            if (!TryParseHex(text, MemoryMarshal.AsBytes(raw)))
            {
                digest = default;
                return false;
            }

            digest = new(raw);
            return true;
        }

        /// <summary>An owner token as <see cref="OwnerToken.New()"/> makes them: 32 characters of lowercase hex.</summary>
        public static bool TryParseOwner(string? text, out UInt128 token)
        {
            Span<UInt128> raw = stackalloc UInt128[1];
            var parsed = TryParseHex(text, MemoryMarshal.AsBytes(raw));
            token = raw[0];
            return parsed;
        }

        public bool Equals(Digest other) => _a == other._a && _b == other._b && _c == other._c && _d == other._d;

        public override bool Equals(object? obj) => obj is Digest other && Equals(other);

        public override int GetHashCode() => HashCode.Combine(_a, _b, _c, _d);

        public override string ToString()
        {
            Span<ulong> raw = [_a, _b, _c, _d];
            return Convert.ToHexStringLower(MemoryMarshal.AsBytes(raw));
        }

        private static bool TryParseHex(string? text, Span<byte> raw)
            => text is not null && text.Length == raw.Length * 2 && !text.AsSpan().ContainsAnyExcept(LowerHex)
                && Convert.FromHexString(text, raw, out _, out var written) == OperationStatus.Done && written == raw.Length;
    }

    /// <summary>
    /// A share of the records, behind one lock: a hash table of plain structs, and an arena of byte arrays that holds
    /// the keys and the variable parts. Every member is called with <see cref="Gate"/> held.
    /// </summary>
    private sealed class Shard
    {
        // Arrays grow from small (a store in a test holds a handful of records) to this; a part larger than a quarter of
        // it gets an array of its own, given back as soon as its record goes.
        private const int FirstChunkSize = 4 * 1024;
        private const int MaxChunkSize = 1024 * 1024;
        private const int OwnChunkThreshold = MaxChunkSize / 4;

        private readonly long _compactionFloor;

        private byte[]?[] _chunks = new byte[]?[4];
        private int _chunkCount;
        private int _current = -1;
        private int _used;
        private long _live;
        private long _dead;
        private KeyComparer? _comparer;

        public Shard(long compactionFloor)
        {
            _compactionFloor = compactionFloor;
            Reset(0);
        }

        // The arena is rewritten once freed space outweighs what is in use, and is at least this large.
        public static long DefaultCompactionFloor => 256 * 1024;

        public int Compactions { get; private set; }

        public long ArenaBytes
        {
            get
            {
                var bytes = 0L;
                for (var i = 0; i < _chunkCount; i++)
                {
                    bytes += _chunks[i]?.Length ?? 0;
                }

                return bytes;
            }
        }

        public Lock Gate { get; } = new();

        public Dictionary<KeyRef, Record> Records { get; private set; } = null!;

        public Dictionary<KeyRef, Record>.AlternateLookup<Probe> Lookup { get; private set; }

        public ref Record Find(KeyRef key) => ref CollectionsMarshal.GetValueRefOrNullRef(Records, key);

        public IdempotencyLease Add(in Probe key, in ClaimRequest request, long now, out KeyRef stored)
        {
            stored = WriteKey(key);
            var lease = NewLease(request, out var owner);
            var record = Claimed(request, owner, now, now);
            var fingerprintText = FingerprintTextOf(request, ref record);
            WriteData(ref record, fingerprintText, recoveryPoint: null, response: null);
            Records.Add(stored, record);
            return lease;
        }

        public IdempotencyLease Reclaim(KeyRef key, in Record existing, in ClaimRequest request, long now)
        {
            var lease = NewLease(request, out var owner);
            var record = Claimed(request, owner, now, now);
            var fingerprintText = FingerprintTextOf(request, ref record);
            Replace(key, existing, record, fingerprintText, recoveryPoint: null, response: null);
            return lease;
        }

        public IdempotencyLease TakeOver(KeyRef key, in Record existing, in ClaimRequest request, long now)
        {
            var lease = NewLease(request, out var owner);
            ref var record = ref Find(key);
            record.Owner = owner;
            record.HasOwner = true;
            record.LeaseExpiresAt = now + request.LeaseDuration.Ticks;
            record.ExpiresAt = now + Max(request.Retention, request.LeaseDuration).Ticks;
            var recoveryPoint = RecoveryPoint(existing);
            return recoveryPoint is null ? lease : lease with { RecoveryPoint = recoveryPoint };
        }

        public bool FingerprintMatches(in Record record, string fingerprint)
            => record.FingerprintLength < 0
                ? Digest.TryParse(fingerprint, out var digest) && digest.Equals(record.Fingerprint)
                : Chars(record.DataChunk, record.DataOffset, record.FingerprintLength).SequenceEqual(fingerprint);

        public string? FingerprintText(in Record record)
            => record.FingerprintLength < 0 ? null : new string(Chars(record.DataChunk, record.DataOffset, record.FingerprintLength));

        public string? RecoveryPoint(in Record record)
            => record.RecoveryLength < 0
                ? null
                : new string(Chars(record.DataChunk, record.DataOffset + (Math.Max(0, record.FingerprintLength) * sizeof(char)), record.RecoveryLength));

        public (byte[] Array, int Offset, int Length) Response(in Record record)
        {
            var offset = record.DataOffset + ((Math.Max(0, record.FingerprintLength) + Math.Max(0, record.RecoveryLength)) * sizeof(char));
            return (_chunks[record.DataChunk]!, offset, record.ResponseLength);
        }

        /// <summary>Stores <paramref name="updated"/> with new variable parts, freeing the old ones.</summary>
        public void Replace(KeyRef key, in Record existing, Record updated, string? fingerprintText, string? recoveryPoint, IdempotencyResponse? response)
        {
            Free(existing.DataChunk, existing.DataOffset, existing.DataSize);
            WriteData(ref updated, fingerprintText, recoveryPoint, response);
            Find(key) = updated;
            CompactIfWasteful();
        }

        public void Remove(KeyRef key, in Record existing)
        {
            Records.Remove(key);
            Free(key.Chunk, key.Offset, key.Length * sizeof(char));
            Free(existing.DataChunk, existing.DataOffset, existing.DataSize);
            CompactIfWasteful();
        }

        public int Purge(long before, int limit)
        {
            var purged = 0;
            foreach (var (key, record) in Records)
            {
                if (purged == limit)
                {
                    break;
                }

                if (record.ExpiresAt < before && (record.ResponseLength >= 0 || record.LeaseExpiresAt < before))
                {
                    // Removing while enumerating a Dictionary is allowed; compaction waits until the loop is done.
                    Records.Remove(key);
                    Free(key.Chunk, key.Offset, key.Length * sizeof(char));
                    Free(record.DataChunk, record.DataOffset, record.DataSize);
                    purged++;
                }
            }

            CompactIfWasteful();
            return purged;
        }

        public bool KeyEquals(ReadOnlySpan<char> key, KeyRef stored) => Chars(stored.Chunk, stored.Offset, stored.Length).SequenceEqual(key);

        public bool KeyEquals(KeyRef x, KeyRef y)
            => (x.Chunk == y.Chunk && x.Offset == y.Offset) || Chars(x.Chunk, x.Offset, x.Length).SequenceEqual(Chars(y.Chunk, y.Offset, y.Length));

        private static IdempotencyLease NewLease(in ClaimRequest request, out UInt128 owner)
            => new(request.StoreKey, OwnerToken.New(out owner), request.Retention, request.LeaseDuration);

        private static Record Claimed(in ClaimRequest request, UInt128 owner, long now, long createdAt) => new()
        {
            CreatedAt = createdAt,
            LeaseExpiresAt = now + request.LeaseDuration.Ticks,
            ExpiresAt = now + Max(request.Retention, request.LeaseDuration).Ticks,
            Owner = owner,
            HasOwner = true,
            FingerprintLength = -1,
            RecoveryLength = -1,
            ResponseLength = -1,
        };

        // The usual hex digest goes in the record itself; any other fingerprint is kept as text in the arena.
        private static string? FingerprintTextOf(in ClaimRequest request, ref Record record)
        {
            if (Digest.TryParse(request.Fingerprint, out var digest))
            {
                record.Fingerprint = digest;
                return null;
            }

            return request.Fingerprint;
        }

        private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

        private ReadOnlySpan<char> Chars(int chunk, int offset, int length)
            => MemoryMarshal.Cast<byte, char>(_chunks[chunk].AsSpan(offset, length * sizeof(char)));

        private KeyRef WriteKey(in Probe key)
        {
            var (chunk, offset) = Allocate(key.Key.Length * sizeof(char));
            key.Key.CopyTo(MemoryMarshal.Cast<byte, char>(_chunks[chunk].AsSpan(offset, key.Key.Length * sizeof(char))));
            return new KeyRef(key.Hash, chunk, offset, key.Key.Length);
        }

        private void WriteData(ref Record record, string? fingerprintText, string? recoveryPoint, IdempotencyResponse? response)
        {
            record.FingerprintLength = fingerprintText?.Length ?? -1;
            record.RecoveryLength = recoveryPoint?.Length ?? -1;
            record.ResponseLength = response is null ? -1 : IdempotencyResponseCodec.EncodedLength(response);
            var size = record.DataSize;
            if (size == 0)
            {
                (record.DataChunk, record.DataOffset) = (0, 0);
                return;
            }

            (record.DataChunk, record.DataOffset) = Allocate(size);
            var span = _chunks[record.DataChunk].AsSpan(record.DataOffset, size);
            var chars = MemoryMarshal.Cast<byte, char>(span[..((Math.Max(0, record.FingerprintLength) + Math.Max(0, record.RecoveryLength)) * sizeof(char))]);
            fingerprintText.AsSpan().CopyTo(chars);
            recoveryPoint.AsSpan().CopyTo(chars[fingerprintText.AsSpan().Length..]);
            if (response is not null)
            {
                IdempotencyResponseCodec.EncodeInto(response, span[(chars.Length * sizeof(char))..]);
            }
        }

        // Blocks start at multiples of 8, so characters are always aligned.
        private (int Chunk, int Offset) Allocate(int size)
        {
            var aligned = (size + 7) & ~7;
            _live += aligned;
            if (aligned >= OwnChunkThreshold)
            {
                return (AddChunk(new byte[aligned]), 0);
            }

            if (_current < 0 || _used + aligned > _chunks[_current]!.Length)
            {
                var previous = _current < 0 ? FirstChunkSize / 2 : _chunks[_current]!.Length;
                _current = AddChunk(new byte[Math.Max(Math.Min(previous * 2, MaxChunkSize), aligned)]);
                _used = 0;
            }

            var offset = _used;
            _used += aligned;
            return (_current, offset);
        }

        private int AddChunk(byte[] chunk)
        {
            if (_chunkCount == _chunks.Length)
            {
                Array.Resize(ref _chunks, _chunkCount * 2);
            }

            _chunks[_chunkCount] = chunk;
            return _chunkCount++;
        }

        private void Free(int chunk, int offset, int size)
        {
            if (size == 0)
            {
                return;
            }

            var aligned = (size + 7) & ~7;
            _live -= aligned;
            if (aligned >= OwnChunkThreshold && offset == 0 && _chunks[chunk]!.Length == aligned)
            {
                // A part that had an array of its own: the array goes with it.
                _chunks[chunk] = null;
                return;
            }

            _dead += aligned;
        }

        private void CompactIfWasteful()
        {
            if (_dead < _compactionFloor || _dead < _live)
            {
                return;
            }

            Compactions++;

            // Copies every live record to new arrays. Replays still reading an old array keep it alive until they finish;
            // an array of one part's own is handed over as it is.
            var oldChunks = _chunks;
            var oldRecords = Records;
            Reset(oldRecords.Count);
            foreach (var (key, record) in oldRecords)
            {
                var moved = record;
                var size = record.DataSize;
                if (size > 0)
                {
                    var data = oldChunks[record.DataChunk]!;
                    if (((size + 7) & ~7) >= OwnChunkThreshold)
                    {
                        _live += data.Length;
                        (moved.DataChunk, moved.DataOffset) = (AddChunk(data), 0);
                    }
                    else
                    {
                        (moved.DataChunk, moved.DataOffset) = Allocate(size);
                        data.AsSpan(record.DataOffset, size).CopyTo(_chunks[moved.DataChunk].AsSpan(moved.DataOffset));
                    }
                }

                var keyChars = MemoryMarshal.Cast<byte, char>(oldChunks[key.Chunk].AsSpan(key.Offset, key.Length * sizeof(char)));
                var (chunk, offset) = Allocate(keyChars.Length * sizeof(char));
                keyChars.CopyTo(MemoryMarshal.Cast<byte, char>(_chunks[chunk].AsSpan(offset)));
                Records.Add(new KeyRef(key.Hash, chunk, offset, key.Length), moved);
            }
        }

        private void Reset(int capacity)
        {
            _chunks = new byte[]?[4];
            _chunkCount = 0;
            _current = -1;
            _used = 0;
            _live = 0;
            _dead = 0;
            Records = new Dictionary<KeyRef, Record>(capacity, _comparer ??= new KeyComparer(this));
            Lookup = Records.GetAlternateLookup<Probe>();
        }
    }

    /// <summary>Compares keys by their characters in the shard's arena; looks up by a <see cref="Probe"/> without storing it.</summary>
    private sealed class KeyComparer(Shard shard) : IEqualityComparer<KeyRef>, IAlternateEqualityComparer<Probe, KeyRef>
    {
        public bool Equals(KeyRef x, KeyRef y) => x.Hash == y.Hash && x.Length == y.Length && shard.KeyEquals(x, y);

        public int GetHashCode(KeyRef obj) => obj.Hash;

        public bool Equals(Probe alternate, KeyRef other) => alternate.Hash == other.Hash && alternate.Key.Length == other.Length && shard.KeyEquals(alternate.Key, other);

        public int GetHashCode(Probe alternate) => alternate.Hash;

        // Keys are written to the arena before they are added, never through the lookup.
        public KeyRef Create(Probe alternate) => throw new NotSupportedException();
    }
}
