using Idem.Hosting;

namespace Idem.Payments.Telemetry;

/// <summary>The payments service's telemetry (<see cref="ServiceTelemetry"/>): the engine's instruments and Npgsql's.</summary>
internal static class PaymentsTelemetry
{
    /// <summary>The meters exported: the engine's (and Idem.Http's and Idem.Messaging's, which share its name) and Npgsql's; ASP.NET Core's and HttpClient's come from their instrumentation.</summary>
    public static readonly string[] Meters = [IdemTelemetry.Name, ServiceTelemetry.Npgsql];

    /// <summary>The traces exported: Idem's operation and client spans, and Npgsql's commands; requests and outgoing calls come from the instrumentation.</summary>
    public static readonly string[] Sources = [IdemTelemetry.Name, ServiceTelemetry.Npgsql];

    public static void Add(IServiceCollection services, IConfiguration configuration)
        => ServiceTelemetry.Add(services, configuration, "idem-payments", Meters, Sources);
}
