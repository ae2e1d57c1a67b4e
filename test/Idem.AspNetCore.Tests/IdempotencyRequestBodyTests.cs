using System.Net.Http.Headers;
using System.Security.Cryptography;
using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;

namespace Idem.AspNetCore.Tests;

/// <summary>
/// The middleware reads the whole body to fingerprint it; the handler must still receive every byte, whichever way the
/// body was kept (small bodies stay in the server's pipe; large and chunked ones are copied), and every byte must count.
/// </summary>
public sealed class IdempotencyRequestBodyTests
{
    private readonly CallCounter _calls = new();

    private Task<TestApp> CreateSut() => TestApp.StartAsync(app =>
    {
        // Answers with the length and SHA-256 of the body the handler itself read, from the stream or the pipe.
        app.MapPost("/stream", async (HttpContext context) =>
        {
            _calls.Increment();
            using var copy = new MemoryStream();
            await context.Request.Body.CopyToAsync(copy);
            return Results.Text($"{copy.Length}:{Convert.ToHexStringLower(SHA256.HashData(copy.ToArray()))}");
        }).RequireIdempotency();
        app.MapPost("/where", (HttpContext context) => Results.Text(context.Request.Body switch
        {
            FileBufferingReadStream { InMemory: false } => "spooled to a file",
            FileBufferingReadStream => "spooled in memory",
            _ => "server's pipe",
        })).RequireIdempotency();
        app.MapPost("/bound", (Payload payload) => Results.Ok(new { call = _calls.Increment(), payload.Data.Length })).RequireIdempotency();
    }, builder: b => b.WebHost.ConfigureKestrel(k => k.Limits.MaxRequestBodySize = 4 * 1024 * 1024));

    public sealed record Payload(string Data);

    [Theory]
    [InlineData(1, false)]
    [InlineData(64 * 1024 - 1, false)]
    [InlineData(64 * 1024, false)]
    [InlineData(64 * 1024 + 1, false)]
    [InlineData(1024 * 1024 + 17, false)]
    [InlineData(100_000, true)]
    public async Task Post_BodyOfAnySize_HandlerReadsEveryByteAndReplayMatches(int size, bool chunked)
    {
        await using var sut = await CreateSut();
        var body = new byte[size];
        RandomNumberGenerator.Fill(body);
        var expected = $"{size}:{Convert.ToHexStringLower(SHA256.HashData(body))}";

        var first = await PostBytesAsync(sut.Client, "k-1", body, chunked);
        var replay = await PostBytesAsync(sut.Client, "k-1", body, chunked);
        body[^1] ^= 0xFF;
        var lastByteChanged = await PostBytesAsync(sut.Client, "k-1", body, chunked);

        Assert.Equal(200, first.Status);
        Assert.Equal(expected, first.Text);
        Assert.True(replay.IsReplayed);
        Assert.Equal(expected, replay.Text);
        Assert.Equal(422, lastByteChanged.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Theory]
    [InlineData(1000, false, "server's pipe")]
    [InlineData(1000, true, "spooled in memory")]
    [InlineData(64 * 1024 + 1, false, "spooled to a file")]
    [InlineData(3 * 1024 * 1024, true, "spooled to a file")]
    public async Task Post_Body_KeptInThePipeOrSpooledPastItsFirst64KiB(int size, bool chunked, string expected)
    {
        await using var sut = await CreateSut();
        var body = new byte[size];
        RandomNumberGenerator.Fill(body);

        var reply = await PostBytesAsync(sut.Client, "k-1", body, chunked, "/where");

        Assert.Equal(200, reply.Status);
        Assert.Equal(expected, reply.Text);
    }

    [Theory]
    [InlineData(1000)]
    [InlineData(64 * 1024)]
    [InlineData(64 * 1024 + 1)]
    [InlineData(200_000)]
    public async Task Post_SameBodyWithAndWithoutContentLength_IsTheSameRequest(int size)
    {
        await using var sut = await CreateSut();
        var body = new byte[size];
        RandomNumberGenerator.Fill(body);

        // Spooled or left in the pipe, hashed whole or as it streams by: one body, one fingerprint.
        var measured = await PostBytesAsync(sut.Client, "k-1", body, chunked: false);
        var chunked = await PostBytesAsync(sut.Client, "k-1", body, chunked: true);
        body[size / 2] ^= 0xFF;
        var changed = await PostBytesAsync(sut.Client, "k-1", body, chunked: true);

        Assert.Equal(200, measured.Status);
        Assert.True(chunked.IsReplayed, $"the chunked copy was not replayed: {chunked.Status}");
        Assert.Equal(measured.Body, chunked.Body);
        Assert.Equal(422, changed.Status);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_SmallJsonBoundByMinimalApi_ReadsBodyLeftInPipe()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/bound", "k-1", """{ "data" : "abcdef" }""");
        var reordered = await sut.Client.PostAsync("/bound", "k-1", """{"data":"abcdef"}""");

        Assert.Equal(200, first.Status);
        Assert.Equal("""{"call":1,"length":6}""", first.Text);
        Assert.True(reordered.IsReplayed);
        Assert.Equal(first.Body, reordered.Body);
        Assert.Equal(1, _calls.Count);
    }

    private static async Task<Reply> PostBytesAsync(HttpClient client, string key, byte[] body, bool chunked, string path = "/stream")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path);
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        request.Content = chunked ? new StreamContent(new NonSeekableStream(body)) : new ByteArrayContent(body);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        if (chunked)
        {
            request.Headers.TransferEncodingChunked = true;
        }

        using var response = await client.SendAsync(request);
        return await Reply.ReadAsync(response);
    }

    // A stream HttpClient cannot measure, so the body goes chunked with no Content-Length.
    private sealed class NonSeekableStream(byte[] data) : MemoryStream(data, writable: false)
    {
        public override bool CanSeek => false;
    }
}
