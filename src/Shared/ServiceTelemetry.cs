using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Idem.Hosting;

/// <summary>
/// OpenTelemetry for Idem's services (the payments service, the gateway): metrics and traces over OTLP when
/// <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> is set (the standard <c>OTEL_*</c> variables configure the rest), and metrics on a
/// Prometheus scrape endpoint when <c>Telemetry:Prometheus:Enabled</c> is true, with ASP.NET Core's and HttpClient's
/// instrumentation beside the service's own meters and sources. With neither, OpenTelemetry is not set up at all and the
/// instruments stay available to <c>dotnet-counters</c> and <c>dotnet-trace</c>. docs/observability.md lists them.
/// </summary>
internal static class ServiceTelemetry
{
    public const string PrometheusEnabledKey = "Telemetry:Prometheus:Enabled";
    public const string PrometheusPathKey = "Telemetry:Prometheus:Path";
    public const string DefaultPrometheusPath = "/metrics";

    /// <summary>
    /// Npgsql reports on a meter and an activity source of this name (what Npgsql.OpenTelemetry's <c>AddNpgsql()</c> adds,
    /// and all it adds), so naming them needs no package.
    /// </summary>
    public const string Npgsql = "Npgsql";

    // Store calls take micro- to milliseconds; OpenTelemetry's default buckets (0, 5, 10, … 10000) suit milliseconds, not
    // this histogram's seconds, and would put every call in the first bucket.
    private const string StoreDuration = "idem.store.duration";
    private static readonly double[] StoreDurationBuckets = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    public static bool PrometheusEnabled(IConfiguration configuration) => configuration.GetValue<bool>(PrometheusEnabledKey);

    /// <summary>Sets up the export <paramref name="configuration"/> asks for, if any.</summary>
    public static void Add(IServiceCollection services, IConfiguration configuration, string serviceName, string[] meters, string[] sources)
    {
        var otlp = !string.IsNullOrWhiteSpace(configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        var prometheus = PrometheusEnabled(configuration);
        if (!otlp && !prometheus)
        {
            return;
        }

        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(resource =>
            {
                // OTEL_SERVICE_NAME, when set, names the service; a name given here would override it.
                if (string.IsNullOrWhiteSpace(configuration["OTEL_SERVICE_NAME"]))
                {
                    resource.AddService(serviceName);
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(meters).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation()
                    .AddView(StoreDuration, new ExplicitBucketHistogramConfiguration { Boundaries = StoreDurationBuckets });
                if (otlp)
                {
                    metrics.AddOtlpExporter();
                }

                if (prometheus)
                {
                    metrics.AddPrometheusExporter();
                }
            });

        // Traces have no Prometheus form: they are exported over OTLP only.
        if (otlp)
        {
            telemetry.WithTracing(tracing => tracing.AddSource(sources).AddAspNetCoreInstrumentation().AddHttpClientInstrumentation().AddOtlpExporter());
        }
    }

    /// <summary>Maps the scrape endpoint (anonymous: Idem's instruments carry no tenant, key or amount) when it is enabled.</summary>
    public static void MapPrometheus(WebApplication app)
    {
        if (PrometheusEnabled(app.Configuration))
        {
            var path = app.Configuration[PrometheusPathKey] is { Length: > 0 } configured ? configured : DefaultPrometheusPath;
            app.MapPrometheusScrapingEndpoint(path).AllowAnonymous();
        }
    }
}
