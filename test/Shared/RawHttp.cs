using System.Net.Sockets;
using System.Text;

namespace Idem.Testing;

/// <summary>
/// Sends a hand-written HTTP/1.1 request, for header shapes HttpClient will not produce (a repeated header line, raw
/// bytes in a value). Only for small responses with Content-Length or chunked bodies. Linked as source.
/// </summary>
internal static class RawHttp
{
    public static async Task<RawReply> SendAsync(Uri baseAddress, string method, string path, IEnumerable<(string Name, string Value)> headers, string body = "{}")
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(baseAddress.Host, baseAddress.Port);
        var stream = socket.GetStream();
        var bodyBytes = Encoding.UTF8.GetBytes(body);
        var head = new StringBuilder();
        head.Append(method).Append(' ').Append(path).Append(" HTTP/1.1\r\n");
        head.Append("Host: ").Append(baseAddress.Authority).Append("\r\n");
        head.Append("Connection: close\r\n");
        head.Append("Content-Type: application/json\r\n");
        head.Append("Content-Length: ").Append(bodyBytes.Length).Append("\r\n");
        foreach (var (name, value) in headers)
        {
            head.Append(name).Append(": ").Append(value).Append("\r\n");
        }

        head.Append("\r\n");
        // Latin-1 keeps every char below 0x100 as one byte, so tests decide exactly which bytes go on the wire.
        await stream.WriteAsync(Encoding.Latin1.GetBytes(head.ToString()));
        await stream.WriteAsync(bodyBytes);

        using var received = new MemoryStream();
        await stream.CopyToAsync(received);
        return Parse(received.ToArray());
    }

    private static RawReply Parse(byte[] bytes)
    {
        var text = Encoding.Latin1.GetString(bytes);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var lines = text[..end].Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in lines.Skip(1))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = line[..colon];
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var existing) ? [.. existing, value] : [value];
        }

        var body = bytes[(end + 4)..];
        if (headers.TryGetValue("Transfer-Encoding", out var encoding) && encoding.Contains("chunked"))
        {
            body = Dechunk(body);
        }

        return new RawReply(status, headers, body);
    }

    private static byte[] Dechunk(byte[] chunked)
    {
        using var body = new MemoryStream();
        var position = 0;
        while (true)
        {
            var lineEnd = Array.IndexOf(chunked, (byte)'\n', position);
            var size = Convert.ToInt32(Encoding.Latin1.GetString(chunked, position, lineEnd - position).Trim(), 16);
            if (size == 0)
            {
                return body.ToArray();
            }

            body.Write(chunked, lineEnd + 1, size);
            position = lineEnd + 1 + size + 2;
        }
    }
}

/// <summary>A raw response: its status, its header lines by name, and its (de-chunked) body.</summary>
internal sealed record RawReply(int Status, IReadOnlyDictionary<string, string[]> Headers, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);
}
