using System.Text;
using System.Text.Json;

namespace Idem.Check;

/// <summary>The runner's requests: one logical operation per key, each request counted and bounded, and the effects count.</summary>
internal sealed partial class CheckRunner
{
    /// <summary>One logical operation: a key and the body that goes with it.</summary>
    private sealed record Operation(string? Key, string? Body);

    private Operation NewOperation() => new(
        "idem-check-" + Guid.NewGuid().ToString("N"),
        _target.Body?.Replace(Target.UniquePlaceholder, Guid.NewGuid().ToString("N"), StringComparison.Ordinal));

    private void CountRequest()
    {
        if (Interlocked.Increment(ref _requests) > Target.MaxRequests)
        {
            throw new InvalidOperationException($"stopped: more than {Target.MaxRequests} requests in one run");
        }
    }

    private async Task<Reply> SendAsync(Operation operation, string[]? keyValues = null, Dictionary<string, string>? caller = null, Dictionary<string, string>? extra = null, CancellationToken cancellationToken = default)
    {
        CountRequest();
        using var request = new HttpRequestMessage(new HttpMethod(_target.Method), _target.Url);
        foreach (var (name, value) in _target.Headers.Concat(caller ?? _target.CallerA).Concat(extra ?? []))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        if (keyValues is not null)
        {
            request.Headers.TryAddWithoutValidation(_target.KeyHeader, keyValues);
        }
        else if (operation.Key is not null)
        {
            request.Headers.TryAddWithoutValidation(_target.KeyHeader, operation.Key);
        }

        if (operation.Body is not null)
        {
            request.Content = new ByteArrayContent(Encoding.UTF8.GetBytes(operation.Body));
            request.Content.Headers.TryAddWithoutValidation("Content-Type", _target.ContentType);
        }

        try
        {
            return await ReadAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is HttpRequestException or IOException || (e is TaskCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // One request's failure is an answer the checks judge, not the end of the run.
            return new Reply(0, [], null, null, Replayed: false, RetryAfter: null, Failure: e is TaskCanceledException ? "timed out" : (e.InnerException ?? e).Message);
        }
    }

    private async Task<Reply> ReadAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        var headers = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (name, values) in response.Headers.NonValidated.Concat(response.Content.Headers.NonValidated))
        {
            headers[name] = string.Join(", ", values);
        }

        return new Reply(
            (int)response.StatusCode,
            body,
            response.Content.Headers.ContentType?.ToString(),
            response.Headers.Location?.OriginalString,
            response.Headers.TryGetValues("Idempotent-Replayed", out var replayed) && replayed.Any(v => v.Trim().Equals("true", StringComparison.OrdinalIgnoreCase)),
            response.Headers.TryGetValues("Retry-After", out var retryAfter) ? string.Join(",", retryAfter) : null,
            Headers: headers);
    }

    /// <summary>The effects count, or null without an effects URL or when its answer holds no count.</summary>
    private async Task<long?> EffectsAsync(CancellationToken cancellationToken)
    {
        if (_target.EffectsUrl is null)
        {
            return null;
        }

        CountRequest();
        using var request = new HttpRequestMessage(HttpMethod.Get, _target.EffectsUrl);
        foreach (var (name, value) in _target.Headers.Concat(_target.CallerA))
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }

        using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            foreach (var member in (_target.EffectsPath ?? "").Split('.', StringSplitOptions.RemoveEmptyEntries))
            {
                if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty(member, out root))
                {
                    return null;
                }
            }

            return root.ValueKind switch
            {
                JsonValueKind.Number => root.GetInt64(),
                JsonValueKind.Array => root.GetArrayLength(),
                JsonValueKind.Object when root.TryGetProperty("count", out var count) && count.ValueKind == JsonValueKind.Number => count.GetInt64(),
                _ => null,
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
