using System.Text;
using Idem.Storage;

namespace Idem.Tests.Storage;

public sealed class IdempotencyResponseCodecTests
{
    [Fact]
    public void Decode_Encoded_RoundTripsEverything()
    {
        var body = new byte[256];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = (byte)i;
        }

        var response = new IdempotencyResponse(
            201,
            [new("Location", "/v1/x/1"), new("X-Dup", "2"), new("X-Dup", "1"), new("X-Note", "Grüße 東京"), new("X-Empty", "")],
            body);

        var decoded = IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(response));

        AssertSame(response, decoded);
    }

    [Theory]
    [InlineData(100)]
    [InlineData(204)]
    [InlineData(402)]
    [InlineData(599)]
    [InlineData(999)]
    public void Decode_Encoded_KeepsStatus(int status)
        => Assert.Equal(status, IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(new IdempotencyResponse(status, [], Array.Empty<byte>()))).StatusCode);

    [Fact]
    public void Decode_EncodedEmpty_RoundTrips()
    {
        var response = new IdempotencyResponse(204, [], ReadOnlyMemory<byte>.Empty);

        AssertSame(response, IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(response)));
    }

    [Fact]
    public void Decode_EncodedTruncated_KeepsFlagWithoutBody()
    {
        var response = new IdempotencyResponse(200, [new("Content-Type", "application/json")], new byte[10], bodyTruncated: true);

        var decoded = IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(response));

        Assert.True(decoded.BodyTruncated);
        Assert.True(decoded.Body.IsEmpty);
        AssertSame(response, decoded);
    }

    [Fact]
    public void Decode_EncodedSlicedBody_KeepsOnlyTheSlice()
    {
        var backing = Encoding.ASCII.GetBytes("__payload__");
        var response = new IdempotencyResponse(200, [], backing.AsMemory(2, 7));

        var decoded = IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(response));

        Assert.Equal("payload", Encoding.ASCII.GetString(decoded.Body.Span));
    }

    [Fact]
    public void Decode_LargeBody_RoundTrips()
    {
        var body = new byte[3 * 1024 * 1024];
        new Random(3).NextBytes(body);
        var response = new IdempotencyResponse(200, [new("Content-Type", "application/octet-stream")], body);

        AssertSame(response, IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(response)));
    }

    [Fact]
    public void DecodeHeaders_EncodedHeaders_KeepOrderAndDuplicates()
    {
        KeyValuePair<string, string>[] headers = [new("B", "2"), new("A", "1"), new("B", "3")];

        var decoded = IdempotencyResponseCodec.DecodeHeaders(IdempotencyResponseCodec.EncodeHeaders(headers));

        Assert.Equal(headers, decoded);
    }

    [Fact]
    public void DecodeHeaders_NoHeaders_ReturnsEmpty()
        => Assert.Empty(IdempotencyResponseCodec.DecodeHeaders(IdempotencyResponseCodec.EncodeHeaders([])));

    [Fact]
    public void Decode_UnknownVersion_Throws()
    {
        var data = IdempotencyResponseCodec.Encode(new IdempotencyResponse(200, [], Array.Empty<byte>()));
        data[0] = 99;

        Assert.Throws<InvalidDataException>(() => IdempotencyResponseCodec.Decode(data));
    }

    [Fact]
    public void Decode_Empty_Throws()
        => Assert.Throws<InvalidDataException>(() => IdempotencyResponseCodec.Decode([]));

    [Fact]
    public void DecodeHeaders_UnknownVersion_Throws()
        => Assert.Throws<InvalidDataException>(() => IdempotencyResponseCodec.DecodeHeaders([7, 0, 0, 0, 0]));

    [Fact]
    public void Encode_WritesTheStoredLayoutExactly()
    {
        // Stores keep these bytes (Redis for days): the layout may not change without a new version byte.
        var encoded = IdempotencyResponseCodec.Encode(new IdempotencyResponse(201, [new("Location", "/a")], "ok"u8.ToArray()));

        byte[] expected =
        [
            1, 201, 0, 0, // version, status (little-endian), flags
            1, 1, 0, 0, 0, // header format version, one header
            8, 0, 0, 0, .. "Location"u8, 2, 0, 0, 0, .. "/a"u8,
            2, 0, 0, 0, .. "ok"u8,
        ];
        Assert.Equal(expected, encoded);
    }

    [Fact]
    public void Decode_HeaderCountBeyondTheData_Throws()
    {
        var data = IdempotencyResponseCodec.Encode(new IdempotencyResponse(200, [], Array.Empty<byte>()));
        data[5] = 0xFF;
        data[6] = 0xFF;
        data[7] = 0xFF;

        Assert.Throws<InvalidDataException>(() => IdempotencyResponseCodec.Decode(data));
    }

    [Fact]
    public void Decode_BodyLongerThanTheData_Throws()
    {
        var data = IdempotencyResponseCodec.Encode(new IdempotencyResponse(200, [], "abc"u8.ToArray()));

        Assert.Throws<InvalidDataException>(() => IdempotencyResponseCodec.Decode(data.AsSpan(0, data.Length - 1)));
    }

    [Fact]
    public void Decode_CommonHeaderNames_ComeBackEqual()
    {
        KeyValuePair<string, string>[] headers = [new("Content-Type", "application/json"), new("content-type", "text/plain"), new("Location", "/x"), new("X-Other", "1")];

        var decoded = IdempotencyResponseCodec.Decode(IdempotencyResponseCodec.Encode(new IdempotencyResponse(200, headers, Array.Empty<byte>())));

        Assert.Equal(headers, decoded.Headers);
    }

    private static void AssertSame(IdempotencyResponse expected, IdempotencyResponse actual)
    {
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.BodyTruncated, actual.BodyTruncated);
        Assert.Equal(expected.Headers, actual.Headers);
        Assert.True(expected.Body.Span.SequenceEqual(actual.Body.Span), "Body bytes differ.");
    }
}
