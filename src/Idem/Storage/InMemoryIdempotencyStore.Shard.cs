using System.Runtime.InteropServices;

namespace Idem.Storage;

// The storage structure: per shard, a hash table of plain record structs and an arena of byte arrays behind them.
public sealed partial class InMemoryIdempotencyStore
{
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

        public IdempotencyLease Add(in Probe key, in ClaimRequest request, ReadOnlySpan<byte> members, long now, out KeyRef stored)
        {
            stored = WriteKey(key);
            var lease = NewLease(request, out var owner);
            var record = Claimed(request, owner, now, now);
            var fingerprintText = FingerprintTextOf(request, ref record);
            WriteData(ref record, fingerprintText, recoveryPoint: null, members, response: null);
            Records.Add(stored, record);
            return lease;
        }

        public IdempotencyLease Reclaim(KeyRef key, in Record existing, in ClaimRequest request, ReadOnlySpan<byte> members, long now)
        {
            var lease = NewLease(request, out var owner);
            var record = Claimed(request, owner, now, now);
            var fingerprintText = FingerprintTextOf(request, ref record);
            Replace(key, existing, record, fingerprintText, recoveryPoint: null, members, response: null);
            return lease;
        }

        public IdempotencyLease TakeOver(KeyRef key, in Record existing, in ClaimRequest request, ReadOnlySpan<byte> members, long now)
        {
            var lease = NewLease(request, out var owner);
            var record = existing;
            record.Owner = owner;
            record.HasOwner = true;
            record.LeaseExpiresAt = now + request.LeaseDuration.Ticks;
            record.ExpiresAt = now + Max(request.Retention, request.LeaseDuration).Ticks;
            var recoveryPoint = RecoveryPoint(existing);
            Replace(key, existing, record, FingerprintText(existing), recoveryPoint, members, response: null);
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

        /// <summary>The record's member digest, in place: valid until the record is next written.</summary>
        public ReadOnlySpan<byte> Members(in Record record)
            => record.MembersLength == 0 ? default : _chunks[record.DataChunk].AsSpan(MembersOffset(record), record.MembersLength);

        public (byte[] Array, int Offset, int Length) Response(in Record record)
            => (_chunks[record.DataChunk]!, MembersOffset(record) + record.MembersLength, record.ResponseLength);

        /// <summary>
        /// Stores <paramref name="updated"/> with new variable parts, freeing the old ones (which may still be read from:
        /// a freed block is never written over).
        /// </summary>
        public void Replace(KeyRef key, in Record existing, Record updated, string? fingerprintText, string? recoveryPoint, ReadOnlySpan<byte> members, IdempotencyResponse? response)
        {
            Free(existing.DataChunk, existing.DataOffset, existing.DataSize);
            WriteData(ref updated, fingerprintText, recoveryPoint, members, response);
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

        private static int MembersOffset(in Record record)
            => record.DataOffset + ((Math.Max(0, record.FingerprintLength) + Math.Max(0, record.RecoveryLength)) * sizeof(char));

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

        private void WriteData(ref Record record, string? fingerprintText, string? recoveryPoint, ReadOnlySpan<byte> members, IdempotencyResponse? response)
        {
            record.FingerprintLength = fingerprintText?.Length ?? -1;
            record.RecoveryLength = recoveryPoint?.Length ?? -1;
            record.MembersLength = members.Length;
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
            members.CopyTo(span[(chars.Length * sizeof(char))..]);
            if (response is not null)
            {
                IdempotencyResponseCodec.EncodeInto(response, span[((chars.Length * sizeof(char)) + members.Length)..]);
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
