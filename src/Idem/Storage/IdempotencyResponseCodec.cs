using System.Buffers.Binary;
using System.Text;

namespace Idem.Storage;

/// <summary>
/// The compact, versioned byte form of stored responses, for store authors. The body stays bytes: nothing is ever
/// serialised as an object graph.
/// </summary>
public static class IdempotencyResponseCodec
{
    private const byte HeadersVersion = 1;
    private const byte ResponseVersion = 1;

    /// <summary>Encodes headers as <c>version, count, (name, value)*</c>, each string length-prefixed UTF-8.</summary>
    public static byte[] EncodeHeaders(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        var result = new byte[HeadersSize(headers)];
        var offset = 0;
        WriteHeaders(result, ref offset, headers);
        return result;
    }

    /// <summary>Decodes what <see cref="EncodeHeaders"/> wrote.</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> DecodeHeaders(ReadOnlySpan<byte> data)
    {
        var offset = 0;
        return ReadHeaders(data, ref offset);
    }

    /// <summary>Encodes a whole response: <c>version, status, flags, headers, body</c>.</summary>
    public static byte[] Encode(IdempotencyResponse response)
    {
        ArgumentNullException.ThrowIfNull(response);

        // Measured first and written once into an exact-size array: stores keep this array as it is.
        var result = new byte[EncodedLength(response)];
        EncodeInto(response, result);
        return result;
    }

    /// <summary>How many bytes <see cref="Encode"/> gives for <paramref name="response"/>.</summary>
    internal static int EncodedLength(IdempotencyResponse response) => 4 + HeadersSize(response.Headers) + 4 + response.Body.Length;

    /// <summary>Writes what <see cref="Encode"/> gives into <paramref name="span"/>, exactly <see cref="EncodedLength"/> bytes long.</summary>
    internal static void EncodeInto(IdempotencyResponse response, Span<byte> span)
    {
        span[0] = ResponseVersion;
        BinaryPrimitives.WriteUInt16LittleEndian(span[1..], (ushort)response.StatusCode);
        span[3] = response.BodyTruncated ? (byte)1 : (byte)0;
        var offset = 4;
        WriteHeaders(span, ref offset, response.Headers);
        WriteInt(span, ref offset, response.Body.Length);
        response.Body.Span.CopyTo(span[offset..]);
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote.</summary>
    public static IdempotencyResponse Decode(ReadOnlySpan<byte> data)
    {
        var (status, truncated, headers, bodyOffset, bodyLength) = DecodeHead(data);
        return new IdempotencyResponse(status, headers, data.Slice(bodyOffset, bodyLength).ToArray(), truncated);
    }

    /// <summary>
    /// Decodes what <see cref="Encode"/> wrote, with the body left in <paramref name="data"/> rather than copied: for a
    /// store that keeps the encoded array and never changes it.
    /// </summary>
    internal static IdempotencyResponse DecodeSharingBody(ReadOnlyMemory<byte> data)
    {
        var (status, truncated, headers, bodyOffset, bodyLength) = DecodeHead(data.Span);
        return new IdempotencyResponse(status, headers, data.Slice(bodyOffset, bodyLength), truncated);
    }

    private static (int Status, bool Truncated, KeyValuePair<string, string>[] Headers, int BodyOffset, int BodyLength) DecodeHead(ReadOnlySpan<byte> data)
    {
        if (data.Length < 4 || data[0] != ResponseVersion)
        {
            throw new InvalidDataException($"Unknown stored response format {(data.Length == 0 ? -1 : data[0])}.");
        }

        var status = BinaryPrimitives.ReadUInt16LittleEndian(data[1..]);
        var truncated = data[3] == 1;
        var offset = 4;
        var headers = ReadHeaders(data, ref offset);
        var length = ReadInt(data, ref offset);
        if (length > data.Length - offset)
        {
            throw new InvalidDataException("Stored response body is shorter than its length.");
        }

        return (status, truncated, headers, offset, length);
    }

    // Version, count, then each name and value as a length and its UTF-8 bytes.
    private static int HeadersSize(IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        var size = 1 + 4;
        for (var i = 0; i < headers.Count; i++)
        {
            size += 8 + Encoding.UTF8.GetByteCount(headers[i].Key) + Encoding.UTF8.GetByteCount(headers[i].Value);
        }

        return size;
    }

    private static void WriteHeaders(Span<byte> span, ref int offset, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        span[offset++] = HeadersVersion;
        WriteInt(span, ref offset, headers.Count);
        for (var i = 0; i < headers.Count; i++)
        {
            WriteString(span, ref offset, headers[i].Key);
            WriteString(span, ref offset, headers[i].Value);
        }
    }

    private static KeyValuePair<string, string>[] ReadHeaders(ReadOnlySpan<byte> data, ref int offset)
    {
        if (data.Length <= offset || data[offset] != HeadersVersion)
        {
            throw new InvalidDataException("Unknown stored header format.");
        }

        offset++;
        var count = ReadInt(data, ref offset);
        if (count == 0)
        {
            return [];
        }

        // Each header takes at least 8 bytes: a count beyond that is corrupt, not an allocation to attempt.
        if (count > (data.Length - offset) / 8)
        {
            throw new InvalidDataException("Stored header count exceeds the data.");
        }

        var headers = new KeyValuePair<string, string>[count];
        for (var i = 0; i < count; i++)
        {
            var name = ReadName(data, ref offset);
            var value = ReadString(data, ref offset);
            headers[i] = new(name, value);
        }

        return headers;
    }

    private static void WriteString(Span<byte> span, ref int offset, string value)
    {
        var count = Encoding.UTF8.GetBytes(value, span[(offset + 4)..]);
        WriteInt(span, ref offset, count);
        offset += count;
    }

    private static void WriteInt(Span<byte> span, ref int offset, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(span[offset..], value);
        offset += 4;
    }

    // Header names repeat on every record: the common ones come back as the same string instead of a new one per decode.
    private static readonly string[] CommonNames = ["Content-Type", "Location", "ETag", "Cache-Control", "Content-Language", "Last-Modified"];

    private static string ReadName(ReadOnlySpan<byte> data, ref int offset)
    {
        var count = ReadInt(data, ref offset);
        var bytes = data.Slice(offset, count);
        foreach (var name in CommonNames)
        {
            if (name.Length == count && Ascii.Equals(bytes, name))
            {
                offset += count;
                return name;
            }
        }

        var value = Encoding.UTF8.GetString(bytes);
        offset += count;
        return value;
    }

    private static string ReadString(ReadOnlySpan<byte> data, ref int offset)
    {
        var count = ReadInt(data, ref offset);
        var value = Encoding.UTF8.GetString(data.Slice(offset, count));
        offset += count;
        return value;
    }

    private static int ReadInt(ReadOnlySpan<byte> data, ref int offset)
    {
        var value = BinaryPrimitives.ReadInt32LittleEndian(data[offset..]);
        if (value < 0)
        {
            throw new InvalidDataException("Negative length in stored response.");
        }

        offset += 4;
        return value;
    }
}
