namespace Idem.Http;

/// <summary>
/// A request's body bytes and content headers, read once, so every attempt sends identical bytes: a stream can be read
/// only once, and a fingerprinting server would refuse a retry whose body differs.
/// </summary>
internal sealed class RequestSnapshot
{
    private static readonly HttpRequestOptionsKey<RequestSnapshot> Option = new("Idem.RequestSnapshot");

    private readonly byte[]? _body;
    private readonly KeyValuePair<string, string[]>[] _contentHeaders;

    private RequestSnapshot(byte[]? body, KeyValuePair<string, string[]>[] contentHeaders)
    {
        _body = body;
        _contentHeaders = contentHeaders;
    }

    /// <summary>
    /// Reads the request's content once. The snapshot is kept on the request, so a handler outside this one that sends the
    /// same message again (a resilience handler's retry) reuses it instead of reading a spent stream.
    /// </summary>
    public static async ValueTask<RequestSnapshot> CaptureAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        if (request.Options.TryGetValue(Option, out var kept))
        {
            return kept;
        }

        RequestSnapshot snapshot;
        if (request.Content is not { } content)
        {
            snapshot = new RequestSnapshot(null, []);
        }
        else
        {
            var body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);

            // Content-Length is the new content's own business; everything else (type, encoding, language, …) is copied.
            var headers = content.Headers
                .Where(h => !string.Equals(h.Key, "Content-Length", StringComparison.OrdinalIgnoreCase))
                .Select(h => new KeyValuePair<string, string[]>(h.Key, [.. h.Value]))
                .ToArray();
            snapshot = new RequestSnapshot(body, headers);
        }

        request.Options.Set(Option, snapshot);
        return snapshot;
    }

    /// <summary>A fresh message for one attempt: method, URI, version, headers, options and the snapshot's content.</summary>
    /// <param name="request">The caller's request.</param>
    /// <param name="keyHeader">The key header to add, or <see langword="null"/> when the caller's headers already carry it.</param>
    /// <param name="key">The key.</param>
    public HttpRequestMessage CreateAttempt(HttpRequestMessage request, string? keyHeader, string key)
    {
        var attempt = new HttpRequestMessage(request.Method, request.RequestUri)
        {
            Version = request.Version,
            VersionPolicy = request.VersionPolicy,
        };

        foreach (var (name, values) in request.Headers)
        {
            attempt.Headers.TryAddWithoutValidation(name, values);
        }

        if (keyHeader is not null)
        {
            attempt.Headers.TryAddWithoutValidation(keyHeader, key);
        }

        IDictionary<string, object?> options = attempt.Options;
        foreach (var (name, value) in request.Options)
        {
            options[name] = value;
        }

        if (_body is not null)
        {
            attempt.Content = new ByteArrayContent(_body);
            foreach (var (name, values) in _contentHeaders)
            {
                attempt.Content.Headers.TryAddWithoutValidation(name, values);
            }
        }

        return attempt;
    }
}
