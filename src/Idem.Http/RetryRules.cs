using System.Net;
using System.Net.Sockets;
using System.Text.Json;

namespace Idem.Http;

/// <summary>What is retried, and how long to wait: the rules docs/client.md describes.</summary>
internal static class RetryRules
{
    /// <summary>Idem's problem type for "the first request with this key is still running" (Idem.AspNetCore's <c>IdempotencyProblemTypes.RequestInProgress</c>).</summary>
    public const string RequestInProgressType = "urn:idem:problem:request-in-progress";

    // Problem bodies are small; a larger 409 body is not Idem's and is not read.
    private const int MaxProblemBytes = 16 * 1024;

    /// <summary>Whether a response is worth another attempt with the same key, and why.</summary>
    public static async ValueTask<(bool Retry, string Reason)> ClassifyAsync(HttpResponseMessage response, bool retryOn500, CancellationToken cancellationToken)
    {
        var status = (int)response.StatusCode;
        var reason = status.ToString(System.Globalization.CultureInfo.InvariantCulture);
        switch (response.StatusCode)
        {
            case HttpStatusCode.TooManyRequests:
            case HttpStatusCode.BadGateway:
            case HttpStatusCode.ServiceUnavailable:
            case HttpStatusCode.GatewayTimeout:
                return (true, reason);
            case HttpStatusCode.InternalServerError:
                return (retryOn500, reason);
            case HttpStatusCode.Conflict:
                // A 409 that says when to come back is a "not yet"; one that does not is a business conflict, unless its
                // problem type says it is Idem's request-in-progress (a proxy may have dropped Retry-After).
                if (response.Headers.RetryAfter is not null)
                {
                    return (true, reason);
                }

                return (await IsRequestInProgressAsync(response, cancellationToken).ConfigureAwait(false), reason);
            default:
                return (false, reason);
        }
    }

    /// <summary>Whether an exception means the attempt did not get a response for a reason a retry can cure.</summary>
    public static bool IsTransient(Exception exception, out string reason)
    {
        switch (exception)
        {
            case HttpRequestException { StatusCode: null } http when http.HttpRequestError is not (
                HttpRequestError.SecureConnectionError or HttpRequestError.UserAuthenticationError
                or HttpRequestError.ConfigurationLimitExceeded or HttpRequestError.VersionNegotiationError):
                reason = "connection";
                return true;
            case SocketException or IOException:
                reason = "connection";
                return true;
            default:
                // Polly's attempt timeout, when a resilience handler sits inside this one. By name: Idem.Http does not depend on Polly.
                if (exception.GetType().FullName == "Polly.Timeout.TimeoutRejectedException")
                {
                    reason = "timeout";
                    return true;
                }

                reason = "";
                return false;
        }
    }

    /// <summary>The server's <c>Retry-After</c> on 409, 429 and 503, as a wait from <paramref name="now"/>; otherwise <see langword="null"/>.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, DateTimeOffset now)
    {
        if (response.StatusCode is not (HttpStatusCode.Conflict or HttpStatusCode.TooManyRequests or HttpStatusCode.ServiceUnavailable)
            || response.Headers.RetryAfter is not { } header)
        {
            return null;
        }

        var wait = header.Delta ?? (header.Date is { } date ? date - now : TimeSpan.Zero);
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }

    /// <summary>
    /// Exponential backoff with full jitter: a uniform draw in [0, min(<paramref name="maxDelay"/>,
    /// <paramref name="baseDelay"/>·2^<paramref name="retry"/>)). Full jitter spreads clients that failed together.
    /// </summary>
    /// <param name="retry">0 for the first retry.</param>
    /// <param name="baseDelay">The cap of the first retry's wait.</param>
    /// <param name="maxDelay">The largest cap.</param>
    /// <param name="random">A draw in [0, 1).</param>
    public static TimeSpan Backoff(int retry, TimeSpan baseDelay, TimeSpan maxDelay, double random)
    {
        var cap = Math.Min(maxDelay.Ticks, baseDelay.Ticks * Math.Pow(2, Math.Min(retry, 62)));
        return TimeSpan.FromTicks((long)(Math.Clamp(random, 0, 1) * cap));
    }

    private static async ValueTask<bool> IsRequestInProgressAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        var content = response.Content;
        if (content.Headers.ContentType?.MediaType is not "application/problem+json" || content.Headers.ContentLength is not (> 0 and <= MaxProblemBytes))
        {
            return false;
        }

        // Buffered, so the caller can still read the body if the 409 is returned after all.
        await content.LoadIntoBufferAsync(cancellationToken).ConfigureAwait(false);
        var body = await content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.ValueKind == JsonValueKind.Object
                && document.RootElement.TryGetProperty("type", out var type)
                && type.ValueKind == JsonValueKind.String
                && type.ValueEquals(RequestInProgressType);
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
