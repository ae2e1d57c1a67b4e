using System.Buffers;
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
        var writer = new ArrayBufferWriter<byte>(64);
        WriteHeaders(writer, headers);
        return writer.WrittenSpan.ToArray();
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
        var writer = new ArrayBufferWriter<byte>(64 + response.Body.Length);
        var head = writer.GetSpan(4);
        head[0] = ResponseVersion;
        BinaryPrimitives.WriteUInt16LittleEndian(head[1..], (ushort)response.StatusCode);
        head[3] = response.BodyTruncated ? (byte)1 : (byte)0;
        writer.Advance(4);
        WriteHeaders(writer, response.Headers);
        WriteInt(writer, response.Body.Length);
        writer.Write(response.Body.Span);
        return writer.WrittenSpan.ToArray();
    }

    /// <summary>Decodes what <see cref="Encode"/> wrote.</summary>
    public static IdempotencyResponse Decode(ReadOnlySpan<byte> data)
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
        var body = data.Slice(offset, length).ToArray();
        return new IdempotencyResponse(status, headers, body, truncated);
    }

    private static void WriteHeaders(ArrayBufferWriter<byte> writer, IReadOnlyList<KeyValuePair<string, string>> headers)
    {
        writer.GetSpan(1)[0] = HeadersVersion;
        writer.Advance(1);
        WriteInt(writer, headers.Count);
        foreach (var (name, value) in headers)
        {
            WriteString(writer, name);
            WriteString(writer, value);
        }
    }

    private static List<KeyValuePair<string, string>> ReadHeaders(ReadOnlySpan<byte> data, ref int offset)
    {
        if (data.Length <= offset || data[offset] != HeadersVersion)
        {
            throw new InvalidDataException("Unknown stored header format.");
        }

        offset++;
        var count = ReadInt(data, ref offset);
        var headers = new List<KeyValuePair<string, string>>(count);
        for (var i = 0; i < count; i++)
        {
            var name = ReadString(data, ref offset);
            var value = ReadString(data, ref offset);
            headers.Add(new(name, value));
        }

        return headers;
    }

    private static void WriteString(ArrayBufferWriter<byte> writer, string value)
    {
        var count = Encoding.UTF8.GetByteCount(value);
        WriteInt(writer, count);
        Encoding.UTF8.GetBytes(value, writer.GetSpan(count));
        writer.Advance(count);
    }

    private static string ReadString(ReadOnlySpan<byte> data, ref int offset)
    {
        var count = ReadInt(data, ref offset);
        var value = Encoding.UTF8.GetString(data.Slice(offset, count));
        offset += count;
        return value;
    }

    private static void WriteInt(ArrayBufferWriter<byte> writer, int value)
    {
        BinaryPrimitives.WriteInt32LittleEndian(writer.GetSpan(4), value);
        writer.Advance(4);
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
