using System.Net;

namespace Idem.Http.Tests.Infrastructure;

/// <summary>One request as the server side would see it.</summary>
internal sealed record RecordedRequest(HttpMethod Method, Uri? Uri, string[] Keys, byte[]? Body, string? ContentType, HttpRequestMessage Message)
{
    public string? Key => Keys.Length == 1 ? Keys[0] : null;
}

/// <summary>
/// The fake behind the handler under test: records what each attempt carried (key header, body bytes) and answers from a
/// script indexed by attempt number (1-based); past its end the last answer repeats.
/// </summary>
internal sealed class ScriptedHandler(Func<int, HttpRequestMessage, CancellationToken, Task<HttpResponseMessage>> respond) : HttpMessageHandler
{
    private readonly List<RecordedRequest> _requests = [];

    public string HeaderName { get; init; } = "Idempotency-Key";

    public IReadOnlyList<RecordedRequest> Requests
    {
        get
        {
            lock (_requests)
            {
                return [.. _requests];
            }
        }
    }

    public int Count => Requests.Count;

    /// <summary>Answers each attempt with the next status code (no body).</summary>
    public static ScriptedHandler Statuses(params int[] statuses)
        => new((n, _, _) => Task.FromResult(new HttpResponseMessage((HttpStatusCode)statuses[Math.Min(n, statuses.Length) - 1])));

    /// <summary>Answers each attempt with the next response made by the factories.</summary>
    public static ScriptedHandler Responses(params Func<HttpResponseMessage>[] responses)
        => new((n, _, _) => Task.FromResult(responses[Math.Min(n, responses.Length) - 1]()));

    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
        => SendAsync(request, cancellationToken).GetAwaiter().GetResult();

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsByteArrayAsync(cancellationToken);
        var keys = request.Headers.TryGetValues(HeaderName, out var values) ? values.ToArray() : [];
        int n;
        lock (_requests)
        {
            _requests.Add(new RecordedRequest(request.Method, request.RequestUri, keys, body, request.Content?.Headers.ContentType?.ToString(), request));
            n = _requests.Count;
        }

        var response = await respond(n, request, cancellationToken);
        response.RequestMessage ??= request;
        return response;
    }
}
