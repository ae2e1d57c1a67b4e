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
