using Idem.Gateway.Hosting;
using Microsoft.Extensions.Options;
using Yarp.ReverseProxy.Configuration;

namespace Idem.Gateway.Routes;

/// <summary>
/// Reads every route's idempotency metadata when YARP loads its configuration, before it applies it: a value the gateway
/// cannot read fails the start, and on a reload YARP logs the error and keeps the configuration it had.
/// </summary>
internal sealed class RouteMetadataFilter(IOptions<GatewayOptions> options) : IProxyConfigFilter
{
    public ValueTask<ClusterConfig> ConfigureClusterAsync(ClusterConfig cluster, CancellationToken cancel) => new(cluster);

    public ValueTask<RouteConfig> ConfigureRouteAsync(RouteConfig route, ClusterConfig? cluster, CancellationToken cancel)
    {
        RoutePolicy.Read(route, options.Value.DefaultScope);
        return new(route);
    }
}
