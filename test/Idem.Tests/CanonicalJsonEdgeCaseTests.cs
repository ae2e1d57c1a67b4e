using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace Idem.Tests;

/// <summary>
/// Edge cases for the fast canonical path, each compared byte for byte with the general (document) path, which defines
/// the format: strings the relaxed encoder escapes, every Unicode scalar raw and escaped, number spellings, nesting at
/// and past the fast path's depth limit, large and repeated members. The fingerprint itself is compared with one
/// computed from the general path's bytes, so writing the canonical form straight into the hashed buffer changes nothing.
/// </summary>
public sealed class CanonicalJsonEdgeCaseTests
{
    public static TheoryData<string> FastPathDocuments => new()
    {
        // Numbers are written as sent, whatever their spelling.
        """{"a":1E5,"b":-0,"c":1.0,"d":123456789012345678901234567890,"e":1e-7,"f":-0.0,"g":1E+2,"h":0.1e1,"i":-12.500e-003}""",
        """{"i":-12.500e-003,"h":0.1e1,"g":1E+2,"f":-0.0,"e":1e-7,"d":123456789012345678901234567890,"c":1.0,"b":-0,"a":1E5}""",
        """[1E5,-0,1.0,1e400,-1e-400,0,99999999999999999999999999999999999999999]""",
        // Repeated names: kept, in the order sent, among the sorted others.
        """{"a":1,"a":2}""",
        """{"a":2,"a":1}""",
        """{"b":1,"a":1,"a":0,"b":0,"a":-1}""",
        """{"k":{"z":1,"y":2,"z":0},"k":{"a":[{"d":1,"c":1,"d":0}]}}""",
        // Strings the relaxed encoder leaves alone, and ones it escapes.
        """{"s":"<script>&amp;'+`=~^|"}""",
        "{\"s\":\"del\u007fhere\",\"t\":\"nbsp\u00a0soft\u00adhyphen\"}",
        "{\"b\":\"caf\u00e9 \u65e5\u672c \ud83d\ude00 \u2028 \u2029 \ufeff \ufffd \ue000 \u0378 \u0301\",\"a\":1}",
        """{"s":"\u0041\/\b\f\n\r\t\"\\\u00e9\u2028\ud83d\ude00\u001f\u007f"}""",
        """{"e":"","f":"\u0000","g":" "}""",
        // Scalars and empty containers at the top and inside.
        "\"top\"", "42", "-0", "true", "false", "null", "[]", "{}", "\"\\u00e9\"",
        """{"b":{},"a":[],"c":[{},[],{"y":{},"x":[]}]}""",
        // Whitespace everywhere JSON allows it.
        " \t\r\n{ \"b\" : [ 1 , { \"d\" : null , \"c\" : true } ] , \"a\" : \"x\" } \r\n",
    };

    [Theory]
    [MemberData(nameof(FastPathDocuments))]
    public void TryCanonicalizeWithoutDocument_EdgeDocuments_MatchesGeneralPathByteForByte(string json)
        => AssertFastPathMatches(Encoding.UTF8.GetBytes(json));

    [Theory]
    [MemberData(nameof(FastPathDocuments))]
    public void TryCanonicalizeInto_DestinationTooShort_NeedsRoom(string json)
    {
        // Every write checks for room: the exact length works, any shorter destination reports it rather than writing past.
        var bytes = Encoding.UTF8.GetBytes(json);
        var general = new ArrayBufferWriter<byte>();
        Assert.True(RequestFingerprint.TryCanonicalizeSorted(bytes, general));
        var length = general.WrittenCount;

        for (var size = 0; size < length; size++)
        {
            Assert.Equal(RequestFingerprint.FastPath.NeedsRoom, RequestFingerprint.TryCanonicalizeInto(bytes, new byte[size], out _));
        }

        var exact = new byte[length];
        Assert.Equal(RequestFingerprint.FastPath.Written, RequestFingerprint.TryCanonicalizeInto(bytes, exact, out var written));
        Assert.Equal(length, written);
        Assert.True(exact.AsSpan().SequenceEqual(general.WrittenSpan));
    }

    [Fact]
    public void TryCanonicalizeWithoutDocument_EveryUnicodeScalarRawAndEscaped_MatchesGeneralPathByteForByte()
    {
        // Every scalar value in a string, raw (UTF-8) and as a \u escape, a chunk of them per document: the relaxed encoder
        // decides per scalar which ones it escapes, and the fast path must agree with it on each.
        var raw = new StringBuilder();
        var escaped = new StringBuilder();
        var inChunk = 0;
        for (var scalar = 0; scalar <= 0x10FFFF; scalar++)
        {
            if (scalar is >= 0xD800 and <= 0xDFFF)
            {
                continue;
            }

            var text = char.ConvertFromUtf32(scalar);
            raw.Append(inChunk == 0 ? "{\"b\":[" : ",").Append("\"a").Append(scalar is '"' or '\\' or < 0x20 ? "\\u" + scalar.ToString("x4", CultureInfo.InvariantCulture) : text).Append("b\"");
            escaped.Append(inChunk == 0 ? "{\"b\":[" : ",").Append('"');
            foreach (var unit in text)
            {
                escaped.Append("\\u").Append(((int)unit).ToString("X4", CultureInfo.InvariantCulture));
            }

            escaped.Append('"');
            if (++inChunk == 2048 || scalar == 0x10FFFF)
            {
                AssertFastPathMatches(Encoding.UTF8.GetBytes(raw.Append("],\"a\":0}").ToString()));
                AssertFastPathMatches(Encoding.UTF8.GetBytes(escaped.Append("],\"a\":0}").ToString()));
                raw.Clear();
                escaped.Clear();
                inChunk = 0;
            }
        }
    }

    [Fact]
    public void TryCanonicalize_EveryAsciiCharacterInAName_MatchesGeneralPath()
    {
        for (var c = 0; c < 0x80; c++)
        {
            var name = c is '"' or '\\' or < 0x20 ? "\\u" + c.ToString("x4", CultureInfo.InvariantCulture) : ((char)c).ToString();
            AssertSameAsGeneralPath(Encoding.UTF8.GetBytes("{\"m" + name + "\":1,\"m\":{\"x" + name + "\":2,\"x\":3}}"));
        }
    }

    [Theory]
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D })]
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D })]
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC3, 0x22, 0x7D })]
    [InlineData(new byte[] { 0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0xAF, 0x22, 0x7D })]
    [InlineData(new byte[] { 0x5B, 0x22, 0x78, 0x22, 0x2C, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x5D })]
    public void TryCanonicalize_InvalidUtf8InAString_ReturnsFalseOnBothPaths(byte[] json)
    {
        Assert.False(RequestFingerprint.TryCanonicalizeSorted(json, new ArrayBufferWriter<byte>()));
        Assert.False(RequestFingerprint.TryCanonicalize(json, new ArrayBufferWriter<byte>()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(65)]
    [InlineData(256)]
    [InlineData(257)]
    public void TryCanonicalize_DeepNesting_MatchesGeneralPath(int depth)
    {
        // Objects out of order inside arrays inside objects, down to the depth given: past 64 the fast path declines,
        // past 256 neither path takes it.
        var json = new StringBuilder();
        for (var i = 0; i < depth; i++)
        {
            json.Append(i % 2 == 0 ? "{\"z\":0,\"y\":" : "[");
        }

        json.Append('1');
        for (var i = depth - 1; i >= 0; i--)
        {
            json.Append(i % 2 == 0 ? ",\"x\":\"" + i + "\"}" : ",-0]");
        }

        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        AssertSameAsGeneralPath(bytes);
        if (depth <= 64)
        {
            AssertFastPathMatches(bytes);
        }
    }

    [Theory]
    [InlineData(64, false)]
    [InlineData(65, false)]
    [InlineData(200, false)]
    [InlineData(64, true)]
    [InlineData(65, true)]
    [InlineData(200, true)]
    public void TryCanonicalize_ManyMembers_MatchesGeneralPath(int count, bool reversed)
    {
        var names = Enumerable.Range(0, count).Select(i => "k" + i.ToString("d3", CultureInfo.InvariantCulture)).ToList();
        if (reversed)
        {
            names.Reverse();
        }

        // Each member holds an object out of order, so objects are sorted while the outer one is still open.
        var json = "{" + string.Join(",", names.Select((n, i) => "\"" + n + "\":{\"b\":" + i + ",\"a\":[" + i + "]}")) + "}";

        AssertSameAsGeneralPath(Encoding.UTF8.GetBytes(json));
    }

    [Theory]
    [InlineData(40, 10)]
    [InlineData(60, 30)]
    public void TryCanonicalize_ManyOpenObjectsWithManyMembers_MatchesGeneralPath(int members, int levels)
    {
        // Nested objects of many members each, out of order, the last member opening the next one: many members pending
        // at once (the second case more than the fast path keeps room for between calls). Then a small body again.
        string Level(int depth) => "{" + string.Join(",", Enumerable.Range(0, members).Select(i => "\"m" + ((i * 7) % members).ToString("d2", CultureInfo.InvariantCulture) + "\":" + (i == members - 1 && depth < levels ? Level(depth + 1) : i.ToString(CultureInfo.InvariantCulture)))) + "}";

        var bytes = Encoding.UTF8.GetBytes(Level(0));
        AssertSameAsGeneralPath(bytes);
        AssertFastPathMatches(bytes);
        AssertFastPathMatches("""{"b":{"d":1,"c":2},"a":[{"f":3,"e":4}]}"""u8.ToArray());
    }

    [Theory]
    [InlineData(100)]
    [InlineData(60_000)]
    [InlineData(65_400)]
    [InlineData(70_000)]
    [InlineData(300_000)]
    public void Finish_JsonBodiesOfManySizes_HashesTheGeneralPathsCanonicalForm(int size)
    {
        // Plain strings (canonical form no longer than the body) and DEL (six times longer once escaped as \u007F),
        // so the canonical form lands on both sides of the size past which the parts are hashed incrementally.
        foreach (var filler in new[] { "x", "\u007f", "\u00e9", "\\u0001" })
        {
            var json = new StringBuilder("{\"z\":1,\"pad\":\"");
            while (json.Length < size)
            {
                json.Append(filler);
            }

            var body = Encoding.UTF8.GetBytes(json.Append("\",\"a\":[true]}").ToString());
            Assert.Equal(ReferenceFingerprint(body), Fingerprint(body));
        }
    }

    [Theory]
    [InlineData("""{"b":1,"a":2}""")]
    [InlineData("""{"é":1,"a":2}""")]
    [InlineData("""{"\u0061":1,"a":{"d":"\u00e9","c":"é"}}""")]
    [InlineData("""{"a":"\ud800"}""")]
    [InlineData("""{"a":1} x""")]
    [InlineData("not json")]
    [InlineData("")]
    [InlineData("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"b\":1,\"a\":2}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")]
    public void Finish_JsonBodiesTakingEachPath_HashesTheGeneralPathsCanonicalForm(string json)
    {
        // In place, through the general path, or not canonicalisable at all (hashed raw).
        var body = Encoding.UTF8.GetBytes(json);
        Assert.Equal(ReferenceFingerprint(body), Fingerprint(body));
    }

    [Fact]
    public void Finish_TextPartsOfManyKinds_HashTheirUtf8()
    {
        string?[] values = ["", "POST", "caf\u00e9", "\ud83d\ude00", "lone \ud800 surrogate", new string('v', 257), new string('\u00e9', 40_000), null];
        foreach (var value in values)
        {
            using var fingerprint = new RequestFingerprint();
            fingerprint.Add("n\u00e4me", value);
            fingerprint.Add("route", "/v1/{id}");
            fingerprint.AddBody("{\"b\":1,\"a\":2}"u8, isJson: true);

            var expected = new List<byte>();
            Text(expected, "n\u00e4me");
            if (value is null)
            {
                Length(expected, -1);
            }
            else
            {
                Text(expected, value);
            }

            Text(expected, "route");
            Text(expected, "/v1/{id}");
            Text(expected, "body:json");
            Bytes(expected, "{\"a\":2,\"b\":1}"u8);

            Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(expected.ToArray())), fingerprint.Finish());
        }
    }

    private static string Fingerprint(byte[] body)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("content-type", "application/json");
        fingerprint.AddBody(body, isJson: true);
        return fingerprint.Finish();
    }

    // The format spelled out: every part length-prefixed (little-endian Int32), the body in the general path's form.
    private static string ReferenceFingerprint(byte[] body)
    {
        var canonical = new ArrayBufferWriter<byte>();
        var expected = new List<byte>();
        Text(expected, "method");
        Text(expected, "POST");
        Text(expected, "content-type");
        Text(expected, "application/json");
        if (RequestFingerprint.TryCanonicalizeSorted(body, canonical))
        {
            Text(expected, "body:json");
            Bytes(expected, canonical.WrittenSpan);
        }
        else
        {
            Text(expected, "body:raw");
            Bytes(expected, body);
        }

        return Convert.ToHexStringLower(SHA256.HashData(expected.ToArray()));
    }

    private static void Text(List<byte> parts, string text) => Bytes(parts, Encoding.UTF8.GetBytes(text));

    private static void Bytes(List<byte> parts, ReadOnlySpan<byte> bytes)
    {
        Length(parts, bytes.Length);
        parts.AddRange(bytes);
    }

    private static void Length(List<byte> parts, int length)
    {
        var prefix = new byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, length);
        parts.AddRange(prefix);
    }

    private static void AssertFastPathMatches(byte[] json)
    {
        var fast = new ArrayBufferWriter<byte>();
        var general = new ArrayBufferWriter<byte>();

        Assert.True(RequestFingerprint.TryCanonicalizeSorted(json, general), Encoding.UTF8.GetString(json));
        Assert.Equal(RequestFingerprint.FastPath.Written, RequestFingerprint.TryCanonicalizeWithoutDocument(json, fast));
        Assert.True(fast.WrittenSpan.SequenceEqual(general.WrittenSpan), $"{Encoding.UTF8.GetString(json)}\nfast:    {Encoding.UTF8.GetString(fast.WrittenSpan)}\ngeneral: {Encoding.UTF8.GetString(general.WrittenSpan)}");
    }

    private static void AssertSameAsGeneralPath(byte[] json)
    {
        var combined = new ArrayBufferWriter<byte>();
        var general = new ArrayBufferWriter<byte>();
        var generalOk = RequestFingerprint.TryCanonicalizeSorted(json, general);

        Assert.Equal(generalOk, RequestFingerprint.TryCanonicalize(json, combined));
        if (generalOk)
        {
            Assert.True(combined.WrittenSpan.SequenceEqual(general.WrittenSpan), Encoding.UTF8.GetString(json));
        }

        var fast = new ArrayBufferWriter<byte>();
        var outcome = RequestFingerprint.TryCanonicalizeWithoutDocument(json, fast);
        Assert.True(outcome != RequestFingerprint.FastPath.Invalid || !generalOk, Encoding.UTF8.GetString(json));
        if (outcome == RequestFingerprint.FastPath.Written)
        {
            Assert.True(generalOk);
            Assert.True(fast.WrittenSpan.SequenceEqual(general.WrittenSpan), Encoding.UTF8.GetString(json));
        }
    }
}
