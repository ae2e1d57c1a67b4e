using System.Buffers.Binary;
using System.Text;
using Idem.Storage;

namespace Idem.Redis;

/// <summary>
/// Reads the byte layout of a record (see <see cref="RedisScripts"/>): only the scripts write records, this side reads
/// what they return, in the current format and the two before it.
/// </summary>
internal static class RedisRecord
{
    /// <summary>The format the scripts write: with a recovery point and a member digest.</summary>
    public const byte Version = 3;

    /// <summary>The format written before member digests, still read as a record without one.</summary>
    public const byte WithoutMemberDigest = 2;

    /// <summary>The format written before recovery points, still read as a record without a point or a digest.</summary>
    public const byte WithoutRecoveryPoint = 1;

    // version, state, created, lease expiry, expiry.
    public const int HeaderLength = 1 + 1 + 8 + 8 + 8;

    /// <summary>The longest recovery point a record holds (its length is a u16).</summary>
    public const int MaxRecoveryPointBytes = ushort.MaxValue;

    /// <summary>The longest member digest a record holds (its length is a u16).</summary>
    public const int MaxMemberDigestBytes = ushort.MaxValue;

    public static IdempotencyRecord Read(string storeKey, ReadOnlySpan<byte> value)
    {
        if (value.Length < HeaderLength + 2 || !IsKnown(value[0]))
        {
            throw new InvalidDataException($"The Redis record for '{storeKey}' has an unknown format {(value.IsEmpty ? -1 : value[0])}.");
        }

        var completed = value[1] == 1;
        var created = BinaryPrimitives.ReadInt64LittleEndian(value[2..]);
        var lease = BinaryPrimitives.ReadInt64LittleEndian(value[10..]);
        var expires = BinaryPrimitives.ReadInt64LittleEndian(value[18..]);
        var offset = HeaderLength;
        var fingerprint = Encoding.UTF8.GetString(ReadShort(value, ref offset));
        ReadShort(value, ref offset);
        var recoveryPoint = value[0] >= WithoutMemberDigest ? ReadLong(value, ref offset) : default;
        var memberDigest = value[0] >= Version ? ReadLong(value, ref offset) : default;
        return new IdempotencyRecord
        {
            StoreKey = storeKey,
            Fingerprint = fingerprint,
            State = completed ? IdempotencyRecordState.Completed : IdempotencyRecordState.InProgress,
            CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(created),
            ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expires),
            LeaseExpiresAt = completed ? null : DateTimeOffset.FromUnixTimeMilliseconds(lease),

            // An empty point is none.
            RecoveryPoint = recoveryPoint.IsEmpty ? null : Encoding.UTF8.GetString(recoveryPoint),
            MemberDigest = memberDigest.ToArray(),
            Response = completed ? IdempotencyResponseCodec.Decode(value[offset..]) : null,
        };
    }

    /// <summary>The stored response of a completed record, skipping the rest.</summary>
    public static IdempotencyResponse ReadResponse(string storeKey, ReadOnlySpan<byte> value)
    {
        if (value.Length < HeaderLength + 2 || !IsKnown(value[0]) || value[1] != 1)
        {
            throw new InvalidDataException($"The Redis record for '{storeKey}' is not a completed record of a known format.");
        }

        var offset = HeaderLength;
        ReadShort(value, ref offset);
        ReadShort(value, ref offset);
        if (value[0] >= WithoutMemberDigest)
        {
            ReadLong(value, ref offset);
        }

        if (value[0] >= Version)
        {
            ReadLong(value, ref offset);
        }

        return IdempotencyResponseCodec.Decode(value[offset..]);
    }

    private static bool IsKnown(byte version) => version is WithoutRecoveryPoint or WithoutMemberDigest or Version;

    // A part behind a u8 length: the fingerprint, the owner.
    private static ReadOnlySpan<byte> ReadShort(ReadOnlySpan<byte> value, ref int offset)
    {
        int length = value[offset];
        var bytes = value.Slice(offset + 1, length);
        offset += 1 + length;
        return bytes;
    }

    // A part behind a u16 length: the recovery point, the member digest.
    private static ReadOnlySpan<byte> ReadLong(ReadOnlySpan<byte> value, ref int offset)
    {
        int length = BinaryPrimitives.ReadUInt16LittleEndian(value[offset..]);
        var bytes = value.Slice(offset + 2, length);
        offset += 2 + length;
        return bytes;
    }
}
