using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>A response read to the end: status, every header (response and content), body bytes.</summary>
internal sealed class Reply
{
    public required int Status { get; init; }

    public required Dictionary<string, string[]> Headers { get; init; }

    public required byte[] Body { get; init; }

    public string Text => Encoding.UTF8.GetString(Body);

    public bool IsReplayed => Header("Idempotent-Replayed") == "true";

    public string? Header(string name) => Headers.TryGetValue(name, out var values) ? string.Join(", ", values) : null;

    public bool Has(string name) => Headers.ContainsKey(name);

    /// <summary>Parses the body as RFC 9457 problem details, asserting the media type.</summary>
    public Problem Problem()
    {
        Assert.Equal("application/problem+json", Header("Content-Type"));
        using var document = JsonDocument.Parse(Body);
        var root = document.RootElement;
        return new Problem(
            root.GetProperty("type").GetString()!,
            root.GetProperty("title").GetString()!,
            root.GetProperty("status").GetInt32(),
            root.GetProperty("detail").GetString()!,
            root.TryGetProperty("fields", out var fields) ? [.. fields.EnumerateArray().Select(f => f.GetString()!)] : null);
    }

    /// <summary>A reply read off the wire by <see cref="Idem.Testing.RawHttp"/>.</summary>
    public static Reply From(Idem.Testing.RawReply raw)
        => new() { Status = raw.Status, Headers = new Dictionary<string, string[]>(raw.Headers, StringComparer.OrdinalIgnoreCase), Body = raw.Body };

    public static async Task<Reply> ReadAsync(HttpResponseMessage response)
    {
        var headers = new Dictionary<string, string[]>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers)
        {
            headers[name] = [.. values];
        }

        foreach (var (name, values) in response.Content.Headers)
        {
            headers[name] = [.. values];
        }

        var body = await response.Content.ReadAsByteArrayAsync();
        return new Reply { Status = (int)response.StatusCode, Headers = headers, Body = body };
    }
}

/// <summary>A problem; <paramref name="Fields"/> is the mismatch problem's <c>fields</c> extension, null when absent.</summary>
internal sealed record Problem(string Type, string Title, int Status, string Detail, string[]? Fields = null);

internal static class HttpClientExtensions
{
    public const string Json = "application/json";

    /// <summary>Sends a request with an optional idempotency key and reads the whole response.</summary>
    public static async Task<Reply> SendAsync(
        this HttpClient client,
        HttpMethod method,
        string path,
        string? key,
        string? body = "{}",
        string contentType = Json,
        Action<HttpRequestMessage>? configure = null,
        CancellationToken cancellationToken = default)
    {
        using var request = new HttpRequestMessage(method, path);
        if (key is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        }

        if (body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(body));
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }

        configure?.Invoke(request);
        using var response = await client.SendAsync(request, cancellationToken);
        return await Reply.ReadAsync(response);
    }

    public static Task<Reply> PostAsync(this HttpClient client, string path, string? key, string? body = "{}", Action<HttpRequestMessage>? configure = null)
        => client.SendAsync(HttpMethod.Post, path, key, body, Json, configure);
}
