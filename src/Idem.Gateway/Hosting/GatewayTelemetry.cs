using Idem.Hosting;

namespace Idem.Gateway.Hosting;

/// <summary>
/// The gateway's telemetry (<see cref="ServiceTelemetry"/>): OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set, a
/// Prometheus scrape endpoint when <c>Telemetry:Prometheus:Enabled</c> is true.
/// </summary>
internal static class GatewayTelemetry
{
    /// <summary>The meters exported: the engine's, Kestrel's and Npgsql's (the PostgreSQL store); ASP.NET Core's and the outgoing HTTP client's (YARP's calls) come from their instrumentation.</summary>
    public static readonly string[] Meters = [IdemTelemetry.Name, "Microsoft.AspNetCore.Server.Kestrel", ServiceTelemetry.Npgsql];

    /// <summary>The traces exported: the engine's operation spans, YARP's forwarding and Npgsql's commands; requests and outgoing calls come from the instrumentation.</summary>
    public static readonly string[] Sources = [IdemTelemetry.Name, "Yarp.ReverseProxy", ServiceTelemetry.Npgsql];

    public static void Add(IServiceCollection services, IConfiguration configuration)
        => ServiceTelemetry.Add(services, configuration, "idem-gateway", Meters, Sources);
}
