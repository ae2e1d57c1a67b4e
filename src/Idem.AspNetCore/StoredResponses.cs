using System.Buffers;
using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Idem.AspNetCore;

/// <summary>
/// What of a response is stored (status, allow-listed headers, body bytes) and how a stored one is replayed (BEHAVIOUR §4, §5).
/// </summary>
internal sealed class StoredResponses
{
    internal const string ReplayedHeader = "Idempotent-Replayed";
    internal const string BodyOmittedHeader = "Idempotent-Body-Omitted";

    /// <summary>On every answer whose result is kept (the first run's and its replays): the key's retention, in seconds.</summary>
    internal const string RetentionHeader = "Idempotency-Retention";

    private static readonly HashSet<string> BuiltInReplayedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.ContentType, HeaderNames.Location, HeaderNames.ETag, HeaderNames.ContentLanguage, HeaderNames.CacheControl, HeaderNames.LastModified,
    };

    // Never stored, whatever an allow-list says: they belong to one connection or one moment.
    private static readonly HashSet<string> NeverReplayedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.SetCookie, HeaderNames.Date, HeaderNames.Server, HeaderNames.Connection, HeaderNames.KeepAlive, HeaderNames.TransferEncoding,
        HeaderNames.Upgrade, HeaderNames.ProxyAuthenticate, HeaderNames.TE, HeaderNames.Trailer, HeaderNames.ContentLength, ReplayedHeader, BodyOmittedHeader, RetentionHeader,
    };

    private readonly HashSet<string> _replayedHeaders;

    public StoredResponses(IEnumerable<string> replayedHeaders)
    {
        _replayedHeaders = new HashSet<string>(BuiltInReplayedHeaders.Concat(replayedHeaders), StringComparer.OrdinalIgnoreCase);
        _replayedHeaders.ExceptWith(NeverReplayedHeaders);
    }

    public static async Task ReplayAsync(HttpContext context, IdempotencyResponse stored)
    {
        var response = context.Response;
        response.StatusCode = stored.StatusCode;

        // Indexed, not foreach: an interface enumerator would be allocated on every replay.
        var headers = stored.Headers;
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, value) = headers[i];
            response.Headers.Append(name, value);
        }

        response.Headers[ReplayedHeader] = "true";
        if (stored.BodyTruncated)
        {
            response.Headers[BodyOmittedHeader] = "true";
            response.ContentLength = 0;
            return;
        }

        response.ContentLength = stored.Body.Length;
        if (!stored.Body.IsEmpty)
        {
            await response.Body.WriteAsync(stored.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    public IdempotencyResponse Snapshot(HttpContext context, ResponseCapture capture, IdempotencyPolicy policy)
    {
        // Gathered in a pooled array and kept as one exact-size array: the record lives as long as its retention, and a
        // List would keep a second object (and spare capacity) for the GC to copy.
        var gathered = ArrayPool<KeyValuePair<string, string>>.Shared.Rent(8);
        var count = 0;
        KeyValuePair<string, string>[] headers;
        try
        {
            foreach (var (name, values) in context.Response.Headers)
            {
                if (!_replayedHeaders.Contains(name) && !IsEndpointReplayed(policy, name))
                {
                    continue;
                }

                foreach (var value in values)
                {
                    if (value is not null)
                    {
                        if (count == gathered.Length)
                        {
                            var larger = ArrayPool<KeyValuePair<string, string>>.Shared.Rent(count * 2);
                            gathered.AsSpan(0, count).CopyTo(larger);
                            ArrayPool<KeyValuePair<string, string>>.Shared.Return(gathered, clearArray: true);
                            gathered = larger;
                        }

                        gathered[count++] = new(name, value);
                    }
                }
            }

            headers = count == 0 ? [] : gathered.AsSpan(0, count).ToArray();
        }
        finally
        {
            ArrayPool<KeyValuePair<string, string>>.Shared.Return(gathered, clearArray: true);
        }

        return capture.OverLimit
            ? new IdempotencyResponse(context.Response.StatusCode, headers, ReadOnlyMemory<byte>.Empty, bodyTruncated: true)
            : new IdempotencyResponse(context.Response.StatusCode, headers, capture.ToArray());
    }

    private static bool IsEndpointReplayed(IdempotencyPolicy policy, string name)
    {
        foreach (var header in policy.ReplayedHeaders)
        {
            if (string.Equals(header, name, StringComparison.OrdinalIgnoreCase))
            {
                return !NeverReplayedHeaders.Contains(name);
            }
        }

        return false;
    }
}
