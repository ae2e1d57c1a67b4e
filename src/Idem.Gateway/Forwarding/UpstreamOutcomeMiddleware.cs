using System.Globalization;
using System.Net.Http;
using Idem.AspNetCore;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Forwarder;

namespace Idem.Gateway.Forwarding;

/// <summary>
/// The first step of YARP's proxy pipeline, around the forwarder: when forwarding a guarded request failed, it decides
/// what becomes of the key and tells the client. Never sent (no connection): the key is released and the client may
/// retry at once. Sent, but no complete answer (a timeout, a dropped connection, the client gone): the upstream may have
/// done the work, so the gateway neither stores an answer nor releases the key, and never sends the request again
/// itself; the key stays held until its lease ends (BEHAVIOUR §6), and the client is told when to retry.
/// </summary>
internal sealed class UpstreamOutcomeMiddleware(RequestDelegate next, IOptions<IdempotencyOptions> options, ILogger<UpstreamOutcomeMiddleware> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var body = context.Features.Get<IHttpResponseBodyFeature>()!;
        context.Features.Set<IHttpResponseBodyFeature>(new HeldResponseBodyFeature(body));
        var late = LateAnswer.Current;
        try
        {
            var forwarding = next(context);
            if (late is not null && !forwarding.IsCompleted)
            {
                await AnswerInTimeAsync(context, forwarding, late).ConfigureAwait(false);
            }

            await forwarding.ConfigureAwait(false);
        }
        finally
        {
            context.Features.Set(body);
        }

        var route = context.GetRouteModel().Config.RouteId;
        var failure = context.Features.Get<IForwarderErrorFeature>();
        if (late is { IsDetached: true })
        {
            SettleLateAnswer(context, route, failure);
            return;
        }

        if (failure is null)
        {
            return;
        }
        if (NothingWasSent(failure.Error, failure.Exception))
        {
            if (context.ReleaseIdempotencyKey())
            {
                Log.UpstreamUnavailable(logger, route, failure.Error, failure.Exception);
                await WriteProblemAsync(context, StatusCodes.Status503ServiceUnavailable, GatewayProblemTypes.UpstreamUnavailable, "Upstream unavailable",
                    "The upstream could not be reached, and nothing was sent to it. A retry with the same key is safe.", TimeSpan.FromSeconds(1)).ConfigureAwait(false);
            }

            return;
        }

        if (!context.AbandonIdempotencyKey())
        {
            return;
        }

        var lease = LeaseOf(context);
        Log.UpstreamOutcomeUnknown(logger, route, failure.Error, lease, failure.Exception);
        if (context.Response.HasStarted)
        {
            // The answer was on its way when it broke: YARP aborts the client's connection, there is nothing to write.
            return;
        }

        var timedOut = failure.Error == ForwarderError.RequestTimedOut;
        await WriteProblemAsync(context,
            timedOut ? StatusCodes.Status504GatewayTimeout : StatusCodes.Status503ServiceUnavailable,
            GatewayProblemTypes.UpstreamOutcomeUnknown,
            timedOut ? "Upstream timed out" : "Upstream answer lost",
            (timedOut ? "The upstream did not answer in time" : "The request reached the upstream but its answer did not come back")
                + ", so it may or may not have done the work; the gateway will not send it again by itself. The key stays held until its lease ends: "
                + "retry with the same key after Retry-After, and the request is forwarded again with that key (an upstream that deduplicates by it stays safe). "
                + "Until then a retry gets 409.",
            lease).ConfigureAwait(false);
    }

    /// <summary>
    /// A route with an answer timeout: when the upstream's answer has not arrived in that time, the client gets 504 now and
    /// the forwarder goes on waiting, cut loose from the client, so the answer is stored when it comes.
    /// </summary>
    private async Task AnswerInTimeAsync(HttpContext context, Task forwarding, LateAnswer late)
    {
        try
        {
            await forwarding.WaitAsync(late.AnswerTimeout).ConfigureAwait(false);
            return;
        }
        catch (TimeoutException) when (!forwarding.IsCompleted)
        {
        }

        if (!late.TryDetach())
        {
            // The answer arrived meanwhile: the client gets it.
            return;
        }

        var route = context.GetRouteModel().Config.RouteId;
        Log.AnswerPending(logger, route, late.AnswerTimeout);
        await late.AnswerClientAsync(StatusCodes.Status504GatewayTimeout, GatewayProblemTypes.UpstreamOutcomeUnknown, "Upstream answer pending",
            "The upstream has not answered yet. The gateway goes on waiting for its answer and stores it when it comes: retry with the same key "
                + "after Retry-After, and you get that answer replayed (409 while it is still awaited). The request is not sent again.",
            late.AnswerTimeout, HttpProtocol.IsHttp10(context.Request.Protocol) || HttpProtocol.IsHttp11(context.Request.Protocol)).ConfigureAwait(false);
    }

    /// <summary>After the client was answered on the gateway's own: the upstream's late answer, or how waiting for it ended.</summary>
    private void SettleLateAnswer(HttpContext context, string route, IForwarderErrorFeature? failure)
    {
        if (failure is null)
        {
            // The idempotency middleware stores it (a 5xx releases the key, as any other).
            Log.LateAnswer(logger, route, context.Response.StatusCode);
            return;
        }

        if (NothingWasSent(failure.Error, failure.Exception))
        {
            context.ReleaseIdempotencyKey();
            Log.UpstreamUnavailable(logger, route, failure.Error, failure.Exception);
            return;
        }

        if (context.AbandonIdempotencyKey())
        {
            var lease = LeaseOf(context);
            Log.UpstreamOutcomeUnknown(logger, route, failure.Error, lease, failure.Exception);
        }
    }

    // How long the key stays held after an unknown outcome: the route's lease, else the engine's.
    private TimeSpan LeaseOf(HttpContext context)
        => context.GetEndpoint()?.GetIdempotencyPolicy(context.Request.Method)?.LeaseDuration ?? options.Value.LeaseDuration;

    /// <summary>
    /// True only when the request certainly never left the gateway: no destination, no outgoing request, or a connection
    /// that could not be made. Anything else counts as sent.
    /// </summary>
    internal static bool NothingWasSent(ForwarderError error, Exception? exception) => error switch
    {
        ForwarderError.NoAvailableDestinations or ForwarderError.RequestCreation => true,
        ForwarderError.Request => exception is HttpRequestException
        {
            HttpRequestError: HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError or HttpRequestError.SecureConnectionError
                or HttpRequestError.ProxyTunnelError,
        },
        _ => false,
    };

    private static Task WriteProblemAsync(HttpContext context, int status, string type, string title, string detail, TimeSpan retryAfter)
    {
        // YARP set a bare status; the capture still holds nothing, so the response is ours to write.
        context.Response.Clear();
        context.Response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return TypedResults.Problem(detail, statusCode: status, title: title, type: type).ExecuteAsync(context);
    }
}
