using System.Globalization;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Idem.Check;

/// <summary>
/// HTTP/1.1 written byte for byte on a connection of its own, for the two requests HttpClient will not make: one with two
/// header lines of the same name (it joins them into one), and one the client abandons after sending it, with a reset.
/// </summary>
internal static class RawHttp
{
    private const int MaxAnswerBytes = 4 * 1024 * 1024;

    /// <summary>The request's bytes: every header on its own line, in order, and <c>Connection: close</c>.</summary>
    public static byte[] Format(string method, Uri url, IEnumerable<KeyValuePair<string, string>> headers, byte[]? body, string? contentType)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{method} {url.PathAndQuery} HTTP/1.1\r\n");
        text.Append(CultureInfo.InvariantCulture, $"Host: {url.Authority}\r\n");
        foreach (var (name, value) in headers)
        {
            text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        }

        if (body is not null)
        {
            if (contentType is not null)
            {
                text.Append(CultureInfo.InvariantCulture, $"Content-Type: {contentType}\r\n");
            }

            text.Append(CultureInfo.InvariantCulture, $"Content-Length: {body.Length}\r\n");
        }

        text.Append("Connection: close\r\n\r\n");
        var head = Encoding.UTF8.GetBytes(text.ToString());
        return body is null ? head : [.. head, .. body];
    }

    /// <summary>Sends the request and reads the whole answer (the server closes the connection after it).</summary>
    public static async Task<Reply> SendAsync(Uri url, byte[] request, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            var (socket, stream) = await ConnectAsync(url, deadline.Token).ConfigureAwait(false);
            using (socket)
            await using (stream.ConfigureAwait(false))
            {
                await stream.WriteAsync(request, deadline.Token).ConfigureAwait(false);
                await stream.FlushAsync(deadline.Token).ConfigureAwait(false);
                using var answer = new MemoryStream();
                var buffer = new byte[16 * 1024];
                int read;
                while ((read = await stream.ReadAsync(buffer, deadline.Token).ConfigureAwait(false)) > 0)
                {
                    answer.Write(buffer, 0, read);
                    if (answer.Length > MaxAnswerBytes || IsComplete(answer.GetBuffer().AsSpan(0, (int)answer.Length)))
                    {
                        // A server that keeps the connection open despite Connection: close is not waited on.
                        break;
                    }
                }

                return Parse(answer.ToArray());
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return Failed("timed out");
        }
        catch (Exception e) when (e is SocketException or IOException or AuthenticationException)
        {
            return Failed(e.Message);
        }
    }

    /// <summary>
    /// Sends the request, waits until <paramref name="hangUpAfter"/> has passed or the answer has begun, then resets the
    /// connection. Answers whether any of the answer had arrived by then.
    /// </summary>
    public static async Task<bool> SendAndHangUpAsync(Uri url, byte[] request, TimeSpan hangUpAfter, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        var (socket, stream) = await ConnectAsync(url, deadline.Token).ConfigureAwait(false);
        using (socket)
        {
            try
            {
                await stream.WriteAsync(request, deadline.Token).ConfigureAwait(false);
                await stream.FlushAsync(deadline.Token).ConfigureAwait(false);
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                wait.CancelAfter(hangUpAfter);
                try
                {
                    return await stream.ReadAsync(new byte[1], wait.Token).ConfigureAwait(false) > 0;
                }
                catch (OperationCanceledException) when (!deadline.IsCancellationRequested)
                {
                    return false;
                }
            }
            finally
            {
                // A reset, not a polite close: the server learns at once that nobody will read its answer.
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
        }
    }

    private static async Task<(Socket Socket, Stream Stream)> ConnectAsync(Uri url, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(url.DnsSafeHost, url.Port, cancellationToken).ConfigureAwait(false);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (url.Scheme == Uri.UriSchemeHttps)
            {
                var tls = new SslStream(stream, leaveInnerStreamOpen: false);
                await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = url.DnsSafeHost }, cancellationToken).ConfigureAwait(false);
                stream = tls;
            }

            return (socket, stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static Reply Failed(string why) => new(0, [], null, null, Replayed: false, RetryAfter: null, Failure: why);

    /// <summary>An HTTP/1.1 answer: status line, headers, and a body framed by chunks, a length, or the close.</summary>
    internal static Reply Parse(byte[] answer)
    {
        var end = answer.AsSpan().IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return Failed(answer.Length == 0 ? "the connection closed without an answer" : "the answer ended inside its headers");
        }

        var lines = Encoding.Latin1.GetString(answer, 0, end).Split("\r\n");
        var status = lines[0].Split(' ', 3);
        if (status.Length < 2 || !status[0].StartsWith("HTTP/", StringComparison.Ordinal) || !int.TryParse(status[1], NumberStyles.None, CultureInfo.InvariantCulture, out var code))
        {
            return Failed($"not an HTTP answer: {lines[0]}");
        }

        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                var name = line[..colon].Trim();
                var value = line[(colon + 1)..].Trim();
                headers[name] = headers.TryGetValue(name, out var before) ? before + ", " + value : value;
            }
        }

        var rest = answer.AsSpan(end + 4);
        byte[] body;
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked", StringComparison.OrdinalIgnoreCase))
        {
            body = Unchunk(rest);
        }
        else if (headers.TryGetValue("Content-Length", out var length) && int.TryParse(length, NumberStyles.None, CultureInfo.InvariantCulture, out var count))
        {
            body = rest[..Math.Min(count, rest.Length)].ToArray();
        }
        else
        {
            body = rest.ToArray();
        }

        return new Reply(code, body, headers.GetValueOrDefault("Content-Type"), headers.GetValueOrDefault("Location"),
            headers.TryGetValue("Idempotent-Replayed", out var replayed) && replayed.Equals("true", StringComparison.OrdinalIgnoreCase),
            headers.GetValueOrDefault("Retry-After"), Headers: headers);
    }

    /// <summary>Whether the answer is whole by its own framing (a length, or the last chunk); one framed by the close never is.</summary>
    internal static bool IsComplete(ReadOnlySpan<byte> answer)
    {
        var end = answer.IndexOf("\r\n\r\n"u8);
        if (end < 0)
        {
            return false;
        }

        var head = Encoding.Latin1.GetString(answer[..end]);
        var body = answer.Length - end - 4;
        if (head.StartsWith("HTTP/1.1 204", StringComparison.Ordinal) || head.StartsWith("HTTP/1.1 304", StringComparison.Ordinal))
        {
            return true;
        }

        foreach (var line in head.Split("\r\n"))
        {
            if (line.StartsWith("Transfer-Encoding:", StringComparison.OrdinalIgnoreCase) && line.Contains("chunked", StringComparison.OrdinalIgnoreCase))
            {
                return answer.EndsWith("0\r\n\r\n"u8) && (body == 5 || answer.EndsWith("\r\n0\r\n\r\n"u8));
            }

            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase)
                && int.TryParse(line.AsSpan("Content-Length:".Length).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                return body >= length;
            }
        }

        return false;
    }

    private static byte[] Unchunk(ReadOnlySpan<byte> chunked)
    {
        using var body = new MemoryStream();
        while (true)
        {
            var line = chunked.IndexOf("\r\n"u8);
            if (line < 0)
            {
                break;
            }

            var size = Encoding.Latin1.GetString(chunked[..line]).Split(';')[0].Trim();
            if (!int.TryParse(size, NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var count) || count == 0)
            {
                break;
            }

            chunked = chunked[(line + 2)..];
            body.Write(chunked[..Math.Min(count, chunked.Length)]);
            if (chunked.Length < count + 2)
            {
                break;
            }

            chunked = chunked[(count + 2)..];
        }

        return body.ToArray();
    }
}
