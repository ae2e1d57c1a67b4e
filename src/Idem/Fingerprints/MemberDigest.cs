using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text;
using System.Text.Json;

namespace Idem;

/// <summary>
/// The top-level members of a JSON object input as a store keeps them beside the fingerprint: each member's name and a
/// short hash of its canonical value, never the value. When a key is reused with another input, the two digests tell
/// which members differ (<see cref="IdempotentExecution.MismatchedFields"/>).
/// </summary>
/// <remarks>
/// <para>
/// <see cref="RequestFingerprint"/> makes one for a JSON object body (<see cref="RequestFingerprint.MemberDigest"/>), and
/// <see cref="IdempotentOperation.MemberDigest"/> carries it to the store. When the fingerprint is narrowed to chosen
/// members, the digest holds only those, named by their paths.
/// </para>
/// <para>
/// A member's hash is the 8-byte XXH3 of the member's name and its canonical JSON value, seeded by the record's store
/// key, so one value hashes differently in every record. XXH3 is not a cryptographic hash; it is here to tell values
/// apart, at a few nanoseconds a member, and a cryptographic one would hide no more (see below). Names are kept in clear. A hash does not give its value
/// back, but whoever can read the store can try candidate values against it, as they can against the fingerprint: a
/// value with few possibilities (a small amount, a currency) can be found that way.
/// </para>
/// <para>
/// The hashes are computed when a store first reads <see cref="Storage.ClaimRequest.MemberDigest"/>, or when a mismatch
/// is explained; until then the digest holds the input's canonical members in memory. A store that reads it only when a
/// claim writes (the in-memory store) spares its replays the hashing.
/// </para>
/// </remarks>
public sealed class MemberDigest : IEquatable<MemberDigest>
{
    /// <summary>The format's version, its first byte.</summary>
    internal const byte Version = 1;

    /// <summary>Bytes of each member's hash.</summary>
    internal const int HashLength = 8;

    /// <summary>A digest that would be longer (very many or very long names) is not kept: its fields are then unknown.</summary>
    internal const int MaxEncodedLength = 8 * 1024;

    // Encoded: the version byte, then per member, in the canonical (ordinal) order of names, its name's UTF-8 length (u16,
    // little-endian), the name, and its hash.

    private static readonly SearchValues<byte> Structural = SearchValues.Create("\"{}[],"u8);
    private static readonly SearchValues<byte> StringEnd = SearchValues.Create("\"\\"u8);

    // One or the other: a whole canonical object to split into members, or chosen members already apart (a value is null
    // for a member the input does not have).
    private readonly byte[]? _canonicalObject;
    private readonly string[]? _names;
    private readonly byte[]?[]? _values;
    private Encoded? _encoded;

    private MemberDigest(byte[] canonicalObject) => _canonicalObject = canonicalObject;

    private MemberDigest(string[] names, byte[]?[] values)
    {
        _names = names;
        _values = values;
    }

    /// <summary>True when both hold the same members with the same values, so that operations built from one input are equal.</summary>
    public bool Equals(MemberDigest? other)
    {
        if (other is null)
        {
            return false;
        }

        if (ReferenceEquals(this, other))
        {
            return true;
        }

        if (_canonicalObject is not null || other._canonicalObject is not null)
        {
            return _canonicalObject is not null && other._canonicalObject is not null && _canonicalObject.AsSpan().SequenceEqual(other._canonicalObject);
        }

        if (!_names!.AsSpan().SequenceEqual(other._names))
        {
            return false;
        }

        for (var i = 0; i < _values!.Length; i++)
        {
            if (!SameValue(_values[i], other._values![i]))
            {
                return false;
            }
        }

        return true;

        static bool SameValue(byte[]? value, byte[]? other) => value is null ? other is null : other is not null && value.AsSpan().SequenceEqual(other);
    }

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as MemberDigest);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        if (_canonicalObject is not null)
        {
            hash.AddBytes(_canonicalObject);
        }
        else
        {
            foreach (var name in _names!)
            {
                hash.Add(name, StringComparer.Ordinal);
            }
        }

        return hash.ToHashCode();
    }

    /// <summary>A digest of a canonical JSON object, as the canonicaliser wrote it (copied: the caller's buffer is reused).</summary>
    internal static MemberDigest FromCanonicalObject(ReadOnlySpan<byte> canonical) => new(canonical.ToArray());

    /// <summary>A digest of chosen members, sorted by name (ordinal); each value canonical JSON, or null when absent.</summary>
    internal static MemberDigest FromMembers(string[] names, byte[]?[] values) => new(names, values);

    /// <summary>Whether <see cref="Encode"/> for this store key still has hashing to do.</summary>
    internal bool IsPending(string storeKey) => !(Volatile.Read(ref _encoded) is { } encoded && string.Equals(encoded.StoreKey, storeKey, StringComparison.Ordinal));

    /// <summary>
    /// The digest as stores keep it, for the record under <paramref name="storeKey"/>; empty when it would be longer than
    /// <see cref="MaxEncodedLength"/>. Hashed on the first call, kept for the next.
    /// </summary>
    internal ReadOnlyMemory<byte> Encode(string storeKey)
    {
        if (Volatile.Read(ref _encoded) is { } encoded && string.Equals(encoded.StoreKey, storeKey, StringComparison.Ordinal))
        {
            return encoded.Bytes;
        }

        var bytes = _canonicalObject is not null ? EncodeCanonicalObject(_canonicalObject, storeKey) : EncodeMembers(_names!, _values!, storeKey);
        Volatile.Write(ref _encoded, new Encoded(storeKey, bytes));
        return bytes;
    }

    /// <summary>
    /// The names of the members that differ between two encoded digests: a different hash, or present in only one; sorted
    /// (ordinal). False, with no names, when either digest is empty or not in a format this version reads.
    /// </summary>
    internal static bool TryCompare(ReadOnlySpan<byte> stored, ReadOnlySpan<byte> current, out string[] fields)
    {
        fields = [];
        if (!TryRead(stored, out var first) || !TryRead(current, out var second))
        {
            return false;
        }

        var differing = new List<string>();
        foreach (var (name, hash) in first)
        {
            if (!second.TryGetValue(name, out var other) || other != hash)
            {
                differing.Add(name);
            }
        }

        foreach (var name in second.Keys)
        {
            if (!first.ContainsKey(name))
            {
                differing.Add(name);
            }
        }

        differing.Sort(StringComparer.Ordinal);
        fields = [.. differing];
        return true;
    }

    /// <summary>Reads an encoded digest into its names and hashes; false when it is empty, truncated or of another version.</summary>
    internal static bool TryRead(ReadOnlySpan<byte> encoded, out Dictionary<string, ulong> members)
    {
        members = new Dictionary<string, ulong>(StringComparer.Ordinal);
        if (encoded.IsEmpty || encoded[0] != Version)
        {
            return false;
        }

        var at = 1;
        while (at < encoded.Length)
        {
            if (encoded.Length - at < 2)
            {
                return false;
            }

            int nameLength = BinaryPrimitives.ReadUInt16LittleEndian(encoded[at..]);
            at += 2;
            if (encoded.Length - at < nameLength + HashLength)
            {
                return false;
            }

            var name = Encoding.UTF8.GetString(encoded.Slice(at, nameLength));
            at += nameLength;
            members[name] = BinaryPrimitives.ReadUInt64LittleEndian(encoded.Slice(at, HashLength));
            at += HashLength;
        }

        return true;
    }

    private static byte[] EncodeMembers(string[] names, byte[]?[] values, string storeKey)
    {
        using var members = new Members();
        for (var i = 0; i < names.Length; i++)
        {
            // A path chosen twice is one member; a path the input lacks has no entry, so it differs from one it has.
            if (values[i] is { } value && (i == 0 || !string.Equals(names[i - 1], names[i], StringComparison.Ordinal)))
            {
                members.Add(new Member(Encoding.UTF8.GetBytes(names[i]), value, 0, value.Length));
            }
        }

        return Hash(members.Span, storeKey);
    }

    private static byte[] EncodeCanonicalObject(byte[] canonical, string storeKey)
    {
        using var members = new Members();
        var at = 1;
        while (canonical[at] != (byte)'}')
        {
            // Canonical JSON as the canonicaliser writes it: no whitespace, a name, a colon, a value, then a comma or the end.
            var nameEnd = EndOfString(canonical, at);
            var name = canonical.AsSpan(at + 1, nameEnd - at - 1);
            var valueStart = nameEnd + 2;
            var valueEnd = EndOfValue(canonical, valueStart);
            var nameBytes = name.Contains((byte)'\\') ? Unescape(canonical.AsSpan(at, nameEnd - at + 1)) : null;

            // Duplicate names are next to each other in canonical order: one member, whose value runs from the first
            // value to the last, as sent.
            if (members.Count > 0 && members.Last.Name.SequenceEqual(nameBytes ?? name))
            {
                members.Last = members.Last with { ValueLength = valueEnd - members.Last.ValueStart };
            }
            else
            {
                members.Add(new Member(nameBytes, canonical, valueStart, valueEnd - valueStart) { NameStart = at + 1, NameLength = name.Length });
            }

            at = canonical[valueEnd] == (byte)',' ? valueEnd + 1 : valueEnd;
        }

        return Hash(members.Span, storeKey);
    }

    private static byte[] Hash(ReadOnlySpan<Member> members, string storeKey)
    {
        var length = 1;
        var longest = 0;
        foreach (var member in members)
        {
            length += 2 + member.NameLengthBytes + HashLength;
            longest = Math.Max(longest, member.NameLengthBytes + member.ValueLength);
        }

        if (length > MaxEncodedLength)
        {
            return [];
        }

        // What each hash covers, gathered in one buffer: the store key, then the name, then the value, each behind its length.
        var keyLength = Encoding.UTF8.GetByteCount(storeKey);
        var input = ArrayPool<byte>.Shared.Rent(4 + keyLength + 4 + longest + 4);
        var encoded = new byte[length];
        encoded[0] = Version;
        try
        {
            BinaryPrimitives.WriteInt32LittleEndian(input, keyLength);
            Encoding.UTF8.GetBytes(storeKey, input.AsSpan(4));
            var prefix = 4 + keyLength;

            // The record's own seed: one value hashes differently in every record.
            var seed = (long)XxHash3.HashToUInt64(input.AsSpan(0, prefix));
            Span<byte> digest = stackalloc byte[HashLength];
            var at = 1;
            foreach (var member in members)
            {
                var name = member.Name;
                var part = input.AsSpan(prefix);
                BinaryPrimitives.WriteInt32LittleEndian(part, name.Length);
                name.CopyTo(part[4..]);
                BinaryPrimitives.WriteInt32LittleEndian(part[(4 + name.Length)..], member.ValueLength);
                member.Value.CopyTo(part[(8 + name.Length)..]);
                XxHash3.Hash(input.AsSpan(prefix, 8 + name.Length + member.ValueLength), digest, seed);

                BinaryPrimitives.WriteUInt16LittleEndian(encoded.AsSpan(at), (ushort)name.Length);
                name.CopyTo(encoded.AsSpan(at + 2));
                at += 2 + name.Length;
                digest.CopyTo(encoded.AsSpan(at));
                at += HashLength;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(input);
        }

        return encoded;
    }

    // The index of the closing quote of the string that opens at `start`.
    private static int EndOfString(byte[] json, int start)
    {
        var at = start + 1;
        while (true)
        {
            at += json.AsSpan(at).IndexOfAny(StringEnd);
            if (json[at] == (byte)'"')
            {
                return at;
            }

            // An escape: skip the backslash and the character it escapes (the rest of \uXXXX is plain hex).
            at += 2;
        }
    }

    // The index of the comma or closing brace that ends the member value starting at `start`.
    private static int EndOfValue(byte[] json, int start)
    {
        var depth = 0;
        var at = start;
        while (true)
        {
            at += json.AsSpan(at).IndexOfAny(Structural);
            switch (json[at])
            {
                case (byte)'"':
                    at = EndOfString(json, at);
                    break;
                case (byte)'{' or (byte)'[':
                    depth++;
                    break;
                case (byte)',' when depth == 0:
                    return at;
                case (byte)'}' or (byte)']':
                    if (depth == 0)
                    {
                        return at;
                    }

                    depth--;
                    break;
            }

            at++;
        }
    }

    // A name with escapes, as the client meant it (the canonicaliser escapes only what JSON requires and a few more).
    private static byte[] Unescape(ReadOnlySpan<byte> quoted)
    {
        var reader = new Utf8JsonReader(quoted);
        reader.Read();
        return Encoding.UTF8.GetBytes(reader.GetString()!);
    }

    private sealed record Encoded(string StoreKey, byte[] Bytes);

    /// <summary>The members being hashed, in a pooled array (hashing happens on every first execution).</summary>
    private struct Members : IDisposable
    {
        private Member[] _items;

        public Members() => _items = ArrayPool<Member>.Shared.Rent(16);

        public int Count { get; private set; }

        public readonly ReadOnlySpan<Member> Span => _items.AsSpan(0, Count);

        public readonly ref Member Last => ref _items[Count - 1];

        public void Add(in Member member)
        {
            if (Count == _items.Length)
            {
                var larger = ArrayPool<Member>.Shared.Rent(Count * 2);
                _items.AsSpan(0, Count).CopyTo(larger);
                ArrayPool<Member>.Shared.Return(_items, clearArray: true);
                _items = larger;
            }

            _items[Count++] = member;
        }

        public readonly void Dispose() => ArrayPool<Member>.Shared.Return(_items, clearArray: true);
    }

    /// <summary>
    /// One member while hashing: its name (the decoded bytes, or a slice of the source when it had no escapes) and its
    /// value in the source.
    /// </summary>
    private readonly record struct Member(byte[]? DecodedName, byte[] Source, int ValueStart, int ValueLength)
    {
        public int NameStart { get; init; }

        public int NameLength { get; init; }

        public ReadOnlySpan<byte> Name => DecodedName ?? Source.AsSpan(NameStart, NameLength);

        public int NameLengthBytes => DecodedName?.Length ?? NameLength;

        public ReadOnlySpan<byte> Value => Source.AsSpan(ValueStart, ValueLength);
    }
}
