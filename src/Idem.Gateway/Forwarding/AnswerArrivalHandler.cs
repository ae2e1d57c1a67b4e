using System.Net.Http;
using Yarp.ReverseProxy.Forwarder;

namespace Idem.Gateway.Forwarding;

/// <summary>
/// Tells the request's <see cref="LateAnswer"/> the moment the upstream's answer (its status and headers) is in, before
/// the forwarder writes any of it: from then on the client gets that answer, not the gateway's own.
/// </summary>
internal sealed class AnswerArrivalHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var answer = LateAnswer.Current;
        var response = await base.SendAsync(request, cancellationToken).ConfigureAwait(false);
        answer?.AnswerArrived();
        return response;
    }
}

/// <summary>YARP's client factory, with <see cref="AnswerArrivalHandler"/> around each cluster's handler.</summary>
internal sealed class GatewayHttpClientFactory(ILogger<ForwarderHttpClientFactory> logger) : ForwarderHttpClientFactory(logger)
{
    protected override HttpMessageHandler WrapHandler(ForwarderHttpClientContext context, HttpMessageHandler handler)
        => new AnswerArrivalHandler(base.WrapHandler(context, handler));
}

/// <summary>
/// Ahead of the idempotency middleware: a request on a route with <c>Idempotency.AnswerTimeout</c> gets its
/// <see cref="LateAnswer"/>, which <see cref="UpstreamOutcomeMiddleware"/> uses when the upstream is slower than that.
/// </summary>
internal sealed class LateAnswerMiddleware(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext context)
        => context.GetEndpoint()?.Metadata.GetMetadata<Routes.RoutePolicy>()?.AnswerTimeout is { } timeout
            ? DetachableAsync(context, timeout)
            : next(context);

    private async Task DetachableAsync(HttpContext context, TimeSpan timeout)
    {
        using var answer = LateAnswer.Install(context, timeout);
        await next(context).ConfigureAwait(false);
    }
}
