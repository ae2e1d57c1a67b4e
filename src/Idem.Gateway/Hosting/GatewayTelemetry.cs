using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Idem.Gateway.Hosting;

/// <summary>
/// Exports the gateway's metrics and traces over OTLP when <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the standard
/// OpenTelemetry variables configure the rest: protocol, headers, service name). Nothing is exported otherwise, and the
/// instruments stay available to <c>dotnet-counters</c> and <c>dotnet-trace</c>.
/// </summary>
internal static class GatewayTelemetry
{
    /// <summary>The meters exported: the engine's, ASP.NET Core's and Kestrel's, and the outgoing HTTP client's (YARP's calls).</summary>
    public static readonly string[] Meters = [IdemTelemetry.Name, "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "System.Net.Http"];

    /// <summary>The traces exported: the engine's operation spans, YARP's forwarding, ASP.NET Core's requests and the outgoing calls.</summary>
    public static readonly string[] Sources = [IdemTelemetry.Name, "Yarp.ReverseProxy", "Microsoft.AspNetCore", "System.Net.Http"];

    public static void AddExportIfConfigured(IServiceCollection services, IConfiguration configuration)
    {
        if (string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
        {
            return;
        }

        services.AddOpenTelemetry()
            .WithMetrics(metrics => metrics.AddMeter(Meters).AddOtlpExporter())
            .WithTracing(tracing => tracing.AddSource(Sources).AddOtlpExporter());
    }
}
