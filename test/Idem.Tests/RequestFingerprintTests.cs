using System.Buffers;
using System.Text;

namespace Idem.Tests;

public sealed class RequestFingerprintTests
{
    [Fact]
    public void Finish_SameRequest_GivesTheSameLowercaseHex()
    {
        var first = Fingerprint("{\"a\":1}"u8, isJson: true);
        var second = Fingerprint("{\"a\":1}"u8, isJson: true);

        Assert.Equal(first, second);
        Assert.Equal(64, first.Length);
        Assert.Matches("^[0-9a-f]{64}$", first);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1000)]
    [InlineData(1_000_000)]
    public async Task AddRawBodyAsync_BodyReadInPieces_SameFingerprintAsTheWholeBody(int size)
    {
        var body = new byte[size + 7];
        new Random(size).NextBytes(body);

        // Exactly the body's bytes are read, however the stream hands them out; what follows them is not.
        var streamed = await StreamedAsync(body, size);
        var whole = Fingerprint(body.AsSpan(0, size), isJson: false);
        body[size] ^= 1;
        var afterTheBodyChanged = await StreamedAsync(body, size);
        body[size / 2] ^= 1;
        var bodyChanged = await StreamedAsync(body, size);

        Assert.Equal(whole, streamed);
        Assert.Equal(whole, afterTheBodyChanged);
        Assert.Equal(size == 0, whole == bodyChanged);
    }

    private static async Task<string> StreamedAsync(byte[] data, int length)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("route", "/v1/transfers");
        await fingerprint.AddRawBodyAsync(new TrickleStream(data), length);
        return fingerprint.Finish();
    }

    // Hands out at most 1000 bytes a read, as a network stream might.
    private sealed class TrickleStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
            => base.ReadAsync(buffer[..Math.Min(buffer.Length, 1000)], cancellationToken);
    }

    [Fact]
    public async Task AddRawBodyAsync_StreamShorterThanTheLength_Throws()
    {
        using var fingerprint = new RequestFingerprint();

        await Assert.ThrowsAsync<EndOfStreamException>(() => fingerprint.AddRawBodyAsync(new MemoryStream(new byte[10]), 11).AsTask());
    }

    [Fact]
    public void AddBody_JsonMemberOrderAndWhitespace_DoNotMatter()
    {
        var compact = Fingerprint("{\"a\":1,\"b\":{\"y\":[1,2],\"x\":\"s\"}}"u8, isJson: true);
        var reordered = Fingerprint("{ \"b\" : { \"x\" : \"s\", \"y\" : [ 1, 2 ] },\n\t\"a\" : 1 }\r\n"u8, isJson: true);

        Assert.Equal(compact, reordered);
    }

    [Fact]
    public void AddBody_JsonEquivalentStringEscapes_DoNotMatter()
        => Assert.Equal(Fingerprint("{\"a\":\"\\u0041/\"}"u8, isJson: true), Fingerprint("{\"a\":\"A\\/\"}"u8, isJson: true));

    [Fact]
    public void AddBody_JsonArrayOrder_Matters()
        => Assert.NotEqual(Fingerprint("[1,2]"u8, isJson: true), Fingerprint("[2,1]"u8, isJson: true));

    [Fact]
    public void AddBody_JsonValueChange_Matters()
        => Assert.NotEqual(Fingerprint("{\"amount\":100}"u8, isJson: true), Fingerprint("{\"amount\":101}"u8, isJson: true));

    [Fact]
    public void AddBody_JsonNumberSpelling_Matters()
        => Assert.NotEqual(Fingerprint("{\"amount\":1}"u8, isJson: true), Fingerprint("{\"amount\":1.0}"u8, isJson: true));

    [Fact]
    public void AddBody_AnyRawByteChange_Matters()
    {
        var body = Encoding.UTF8.GetBytes("amount=100&to=acct_1");
        var baseline = Fingerprint(body, isJson: false);
        for (var i = 0; i < body.Length; i++)
        {
            var changed = (byte[])body.Clone();
            changed[i] ^= 0x01;
            Assert.NotEqual(baseline, Fingerprint(changed, isJson: false));
        }
    }

    [Fact]
    public void AddBody_RawWhitespace_Matters()
        => Assert.NotEqual(Fingerprint("a=1"u8, isJson: false), Fingerprint("a=1 "u8, isJson: false));

    [Fact]
    public void AddBody_LastByteOfLargeRawBody_Counts()
    {
        var body = new byte[1024 * 1024];
        new Random(7).NextBytes(body);
        var baseline = Fingerprint(body, isJson: false);

        body[^1] ^= 0xFF;

        Assert.NotEqual(baseline, Fingerprint(body, isJson: false));
    }

    [Fact]
    public void AddBody_LastValueOfLargeJsonBody_Counts()
    {
        var builder = new StringBuilder("{\"items\":[");
        while (builder.Length < 1024 * 1024)
        {
            builder.Append("{\"sku\":\"abcdefgh\",\"qty\":1},");
        }

        var head = builder.ToString();
        var baseline = Fingerprint(Encoding.UTF8.GetBytes(head + "{\"sku\":\"last\",\"qty\":1}]}"), isJson: true);
        var changed = Fingerprint(Encoding.UTF8.GetBytes(head + "{\"sku\":\"last\",\"qty\":2}]}"), isJson: true);

        Assert.NotEqual(baseline, changed);
    }

    [Fact]
    public void AddBody_Members_IgnoreOtherMembers()
    {
        string[] members = ["amount", "to"];
        var first = Fingerprint("{\"amount\":100,\"to\":\"acct_1\",\"note\":\"first try\"}"u8, isJson: true, members);
        var second = Fingerprint("{\"note\":\"second try\",\"to\":\"acct_1\",\"amount\":100,\"extra\":true}"u8, isJson: true, members);

        Assert.Equal(first, second);
    }

    [Fact]
    public void AddBody_Members_ChangeInChosenMemberMatters()
    {
        string[] members = ["amount", "to"];

        Assert.NotEqual(
            Fingerprint("{\"amount\":100,\"to\":\"acct_1\"}"u8, isJson: true, members),
            Fingerprint("{\"amount\":100,\"to\":\"acct_2\"}"u8, isJson: true, members));
    }

    [Fact]
    public void AddBody_MembersDottedPath_ReachesNestedValues()
    {
        string[] members = ["payment.amount"];

        Assert.Equal(
            Fingerprint("{\"payment\":{\"amount\":5,\"memo\":\"a\"}}"u8, isJson: true, members),
            Fingerprint("{\"payment\":{\"memo\":\"b\",\"amount\":5}}"u8, isJson: true, members));
        Assert.NotEqual(
            Fingerprint("{\"payment\":{\"amount\":5}}"u8, isJson: true, members),
            Fingerprint("{\"payment\":{\"amount\":6}}"u8, isJson: true, members));
    }

    [Fact]
    public void AddBody_MembersOrder_DoesNotMatter()
        => Assert.Equal(
            Fingerprint("{\"a\":1,\"b\":2}"u8, isJson: true, ["a", "b"]),
            Fingerprint("{\"a\":1,\"b\":2}"u8, isJson: true, ["b", "a"]));

    [Fact]
    public void AddBody_MemberMissingOrNull_Differ()
        => Assert.NotEqual(
            Fingerprint("{\"a\":1}"u8, isJson: true, ["a", "b"]),
            Fingerprint("{\"a\":1,\"b\":null}"u8, isJson: true, ["a", "b"]));

    [Fact]
    public void AddBody_InvalidJsonWithJsonContentType_FallsBackToRawBytes()
    {
        var body = "{\"a\":1"u8.ToArray();

        Assert.Equal(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true));
        Assert.NotEqual(Fingerprint(body, isJson: true), Fingerprint("{\"a\": 1"u8, isJson: true));
    }

    [Fact]
    public void AddBody_JsonWithTrailingContent_FallsBackToRawBytes()
    {
        var body = "{\"a\":1} {\"b\":2}"u8.ToArray();

        Assert.Equal(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true));
    }

    [Fact]
    public void AddBody_InvalidJsonWithMembers_FallsBackToRawBytes()
    {
        var body = "not json"u8.ToArray();

        Assert.Equal(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true, ["a"]));
    }

    [Fact]
    public void AddBody_JsonWithLoneSurrogateEscape_DoesNotThrow()
    {
        // "\ud800" parses as JSON but is not valid UTF-16; it must still fingerprint (as raw bytes).
        var body = "{\"a\":\"\\ud800\"}"u8.ToArray();

        Assert.Equal(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true));
        Assert.Equal(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true, ["a"]));
    }

    [Fact]
    public void AddBody_EmptyBody_IsStable()
    {
        Assert.Equal(Fingerprint([], isJson: true), Fingerprint([], isJson: true));
        Assert.NotEqual(Fingerprint([], isJson: false), Fingerprint(" "u8, isJson: false));
    }

    [Fact]
    public void AddBody_JsonAndRawOfSameBytes_Differ()
    {
        // A JSON body hashes its canonical form, tagged apart from raw bytes.
        var body = "{\"a\":1}"u8.ToArray();

        Assert.NotEqual(Fingerprint(body, isJson: false), Fingerprint(body, isJson: true));
    }

    [Fact]
    public void Add_PartsOrder_Matters()
    {
        Assert.NotEqual(
            Parts(("query:a", "1"), ("query:b", "2")),
            Parts(("query:b", "2"), ("query:a", "1")));
    }

    [Fact]
    public void Add_BoundariesBetweenParts_Matter()
    {
        Assert.NotEqual(Parts(("ab", "c")), Parts(("a", "bc")));
        Assert.NotEqual(Parts(("a", "b"), ("c", "d")), Parts(("a", "bc"), ("", "d")));
    }

    [Fact]
    public void Add_NullAndEmptyValue_Differ()
        => Assert.NotEqual(Parts(("route:id", null)), Parts(("route:id", "")));

    [Fact]
    public void Add_MethodAndRoute_Matter()
    {
        Assert.NotEqual(Parts(("method", "POST"), ("route", "/a")), Parts(("method", "PATCH"), ("route", "/a")));
        Assert.NotEqual(Parts(("method", "POST"), ("route", "/a")), Parts(("method", "POST"), ("route", "/b")));
    }

    [Fact]
    public void Add_LongNonAsciiValue_IsHashedWhole()
        => Assert.NotEqual(Parts(("v", new string('é', 300) + "a")), Parts(("v", new string('é', 300) + "b")));

    [Fact]
    public void Finish_Twice_Throws()
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Finish();

        Assert.Throws<ObjectDisposedException>(() => fingerprint.Finish());
    }

    [Fact]
    public void TryCanonicalize_SortsMembersAndDropsWhitespace()
    {
        var output = new ArrayBufferWriter<byte>();

        Assert.True(RequestFingerprint.TryCanonicalize("{ \"b\": [ 1, { \"d\": 2, \"c\": 3 } ], \"a\": \"x\" }"u8, output));
        Assert.Equal("{\"a\":\"x\",\"b\":[1,{\"c\":3,\"d\":2}]}", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void TryCanonicalize_InvalidJson_ReturnsFalse()
        => Assert.False(RequestFingerprint.TryCanonicalize("{\"a\":"u8, new ArrayBufferWriter<byte>()));

    private static string Fingerprint(ReadOnlySpan<byte> body, bool isJson, IReadOnlyList<string>? members = null)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("route", "/v1/transfers");
        fingerprint.AddBody(body, isJson, members);
        return fingerprint.Finish();
    }

    private static string Parts(params (string Name, string? Value)[] parts)
    {
        using var fingerprint = new RequestFingerprint();
        foreach (var (name, value) in parts)
        {
            fingerprint.Add(name, value);
        }

        return fingerprint.Finish();
    }
}
