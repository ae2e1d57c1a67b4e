using System.Text;

namespace Idem.Check.Tests;

/// <summary>The requests the kit writes byte for byte, and how it reads the answers.</summary>
public sealed class RawHttpTests
{
    private static Reply Parse(string answer) => RawHttp.Parse(Encoding.UTF8.GetBytes(answer));

    [Fact]
    public void Format_TwoKeyValues_WritesTwoHeaderLinesAndTheBodyLength()
    {
        var request = RawHttp.Format("POST", new Uri("http://api.test:8080/v1/orders?x=1"),
            [new("X-Api-Key", "a"), new("Idempotency-Key", "k-1"), new("Idempotency-Key", "k-2")], "{\"é\":1}"u8.ToArray(), "application/json");

        var text = Encoding.UTF8.GetString(request);

        Assert.Equal(
            "POST /v1/orders?x=1 HTTP/1.1\r\nHost: api.test:8080\r\nX-Api-Key: a\r\nIdempotency-Key: k-1\r\nIdempotency-Key: k-2\r\n" +
            "Content-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{\"é\":1}",
            text);
    }

    [Fact]
    public void Parse_ContentLength_ReadsStatusHeadersAndBody()
    {
        var reply = Parse("HTTP/1.1 400 Bad Request\r\nContent-Type: application/problem+json\r\nContent-Length: 4\r\nRetry-After: 2\r\nIdempotent-Replayed: true\r\n\r\n{}ab-trailing");

        Assert.Equal(400, reply.Status);
        Assert.Equal("{}ab", Encoding.UTF8.GetString(reply.Body));
        Assert.Equal("application/problem+json", reply.ContentType);
        Assert.Equal("2", reply.RetryAfter);
        Assert.True(reply.Replayed);
        Assert.Null(reply.Failure);
    }

    [Fact]
    public void Parse_Chunked_JoinsTheChunks()
    {
        var reply = Parse("HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\nLocation: /orders/7\r\n\r\n5\r\n{\"id\"\r\na;ext=1\r\n:7,\"x\":\"y\"\r\n1\r\n}\r\n0\r\n\r\n");

        Assert.Equal(201, reply.Status);
        Assert.Equal("{\"id\":7,\"x\":\"y\"}", Encoding.UTF8.GetString(reply.Body));
        Assert.Equal("/orders/7", reply.Location);
    }

    [Fact]
    public void Parse_RepeatedHeader_JoinsItsValues()
    {
        var reply = Parse("HTTP/1.1 200 OK\r\nX-A: 1\r\nx-a: 2\r\n\r\nbody to the close");

        Assert.Equal("1, 2", reply.Headers!["X-A"]);
        Assert.Equal("body to the close", Encoding.UTF8.GetString(reply.Body));
    }

    [Theory]
    [InlineData("", "without an answer")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Le", "inside its headers")]
    [InlineData("SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer")]
    public void Parse_NoAnswer_IsAFailureThatSaysWhy(string answer, string why)
    {
        var reply = Parse(answer);

        Assert.Equal(0, reply.Status);
        Assert.Contains(why, reply.Failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}", true)]
    [InlineData("HTTP/1.1 201 Created\r\nContent-Length: 3\r\n\r\n{}", false)]
    [InlineData("HTTP/1.1 201 Created\r\ncontent-length:0\r\n\r\n", true)]
    [InlineData("HTTP/1.1 204 No Content\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", true)]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n", false)]
    [InlineData("HTTP/1.1 200 OK\r\n\r\nto the close", false)]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 2", false)]
    public void IsComplete_ByTheAnswersOwnFraming(string answer, bool complete)
        => Assert.Equal(complete, RawHttp.IsComplete(Encoding.UTF8.GetBytes(answer)));

    [Fact]
    public async Task SendAsync_ServerKeepsTheConnectionOpen_ReturnsOnceTheAnswerIsWhole()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        using var done = new CancellationTokenSource();
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        var server = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var request = new byte[4096];
            var read = 0;
            while (!Encoding.ASCII.GetString(request, 0, read).Contains("\r\n\r\n", StringComparison.Ordinal))
            {
                read += await stream.ReadAsync(request.AsMemory(read));
            }

            await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\n\r\n{}"u8.ToArray());
            // Keeps the connection open until the test is over.
            await Task.Delay(Timeout.Infinite, done.Token).ContinueWith(_ => { }, TaskScheduler.Default);
        });

        var started = System.Diagnostics.Stopwatch.StartNew();
        var reply = await RawHttp.SendAsync(new Uri($"http://127.0.0.1:{port}/x"), RawHttp.Format("POST", new Uri($"http://127.0.0.1:{port}/x"), [], null, null), TimeSpan.FromSeconds(10), default);

        Assert.Equal(400, reply.Status);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"took {started.Elapsed}");
        await done.CancelAsync();
        await server;
    }
}
