using System.Buffers;
using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Idem.AspNetCore;

/// <summary>
/// The HTTP fingerprint of BEHAVIOUR §3: method, route template, route values, the sorted query, the content type and
/// the whole body, a JSON body canonicalised first.
/// </summary>
internal static partial class HttpRequestFingerprint
{
    // Bodies up to this size (with a Content-Length) are fingerprinted in place and left in the server's pipe.
    private const long BodyKeptInPipeLimit = 64 * 1024;

    /// <summary>
    /// Reads the whole body (however long: it all counts; Kestrel's MaxRequestBodySize bounds it) and fingerprints the
    /// request. A small body with a known length stays unconsumed in the server's pipe, so the handler reads it from there
    /// with no copy; anything else is spooled (HttpRequestFingerprint.Spooled.cs), because holding a large body
    /// unconsumed would stall the connection's input buffer. A JSON object body also gives its member digest.
    /// </summary>
    public static ValueTask<(string Fingerprint, MemberDigest? Members)> ComputeAsync(HttpContext context, string method, string route, IReadOnlyList<string>? members)
    {
        var request = context.Request;
        if (request.ContentLength == 0)
        {
            return new((Compute(context, method, route, [], members, out var digest), digest));
        }

        return request.ContentLength <= BodyKeptInPipeLimit
            ? ComputeInPipeAsync(context, method, route, members)
            : ComputeSpooledAsync(context, method, route, members);
    }

    private static async ValueTask<(string Fingerprint, MemberDigest? Members)> ComputeInPipeAsync(HttpContext context, string method, string route, IReadOnlyList<string>? members)
    {
        var reader = context.Request.BodyReader;
        MemberDigest? digest;
        while (true)
        {
            var read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            var buffer = read.Buffer;
            if (!read.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            try
            {
                if (buffer.IsSingleSegment)
                {
                    return (Compute(context, method, route, buffer.FirstSpan, members, out digest), digest);
                }

                var length = (int)buffer.Length;
                var rented = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    buffer.CopyTo(rented);
                    return (Compute(context, method, route, rented.AsSpan(0, length), members, out digest), digest);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
            finally
            {
                // Nothing consumed: the handler's first read gets the whole body again.
                reader.AdvanceTo(buffer.Start);
            }
        }
    }

    public static string Compute(HttpContext context, string method, string route, ReadOnlySpan<byte> body, IReadOnlyList<string>? members)
        => Compute(context, method, route, body, members, out _);

    public static string Compute(HttpContext context, string method, string route, ReadOnlySpan<byte> body, IReadOnlyList<string>? members, out MemberDigest? memberDigest)
    {
        using var fingerprint = Start(context, method, route, out var isJson);
        fingerprint.AddBody(body, isJson, members);
        memberDigest = fingerprint.MemberDigest;
        return fingerprint.Finish();
    }

    /// <summary>A fingerprint with every part of the request but its body; <paramref name="isJson"/> says how to add that.</summary>
    private static RequestFingerprint Start(HttpContext context, string method, string route, out bool isJson)
    {
        var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", method);
        fingerprint.Add("route", route);
        var routeValues = context.Request.RouteValues;
        if (routeValues.Count == 1)
        {
            // One value needs no sort (and no LINQ).
            foreach (var (name, value) in routeValues)
            {
                fingerprint.Add("route-value:" + name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }
        else if (routeValues.Count > 1)
        {
            foreach (var (name, value) in routeValues.OrderBy(v => v.Key, StringComparer.Ordinal))
            {
                fingerprint.Add("route-value:" + name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }

        var query = context.Request.Query;
        if (query.Count > 0)
        {
            foreach (var (name, values) in query.OrderBy(q => q.Key, StringComparer.Ordinal))
            {
                foreach (var value in values.Order(StringComparer.Ordinal))
                {
                    fingerprint.Add("query:" + name, value);
                }
            }
        }

        // The common content types, exactly as sent, without a parse: what TryParse then ToLowerInvariant gives for each
        // (a test holds them to it). The parse costs more than canonicalising a small body.
        var contentTypeHeader = context.Request.ContentType;
        string? mediaType = null;
        if (IsPlainJsonContentType(contentTypeHeader))
        {
            mediaType = "application/json";
        }
        else if (MediaTypeHeaderValue.TryParse(contentTypeHeader, out var contentType))
        {
            mediaType = contentType.MediaType.Value?.ToLowerInvariant();
        }

        fingerprint.Add("content-type", mediaType);
        isJson = mediaType is not null && (mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal));
        return fingerprint;
    }

    /// <summary>Content types sent as they are here by most JSON clients; each parses to the media type application/json.</summary>
    public static readonly string[] PlainJsonContentTypes =
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json;charset=UTF-8",
    ];

    private static bool IsPlainJsonContentType(string? contentType)
    {
        foreach (var plain in PlainJsonContentTypes)
        {
            if (string.Equals(contentType, plain, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
