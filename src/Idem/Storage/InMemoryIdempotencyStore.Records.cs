using System.Buffers;
using System.Runtime.InteropServices;

namespace Idem.Storage;

// What the shards' tables hold (records and their stored keys) and how a key is looked up: plain values throughout,
// so the collector has nothing in the tables to scan.
public sealed partial class InMemoryIdempotencyStore
{
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
    /// fingerprint when it is not the usual hex digest, the recovery point, the member digest, the encoded response; a
    /// length of -1 means the part is absent (for the member digest, 0 does: a digest is never empty).
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
        public int MembersLength;
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

        public readonly int DataSize => Chars(FingerprintLength) + Chars(RecoveryLength) + MembersLength + Math.Max(0, ResponseLength);

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
}
