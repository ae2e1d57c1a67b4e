using System.Text;
using Idem.AspNetCore;
using Idem.Gateway.Forwarding;
using Idem.Gateway.Routes;
using Idem.Hosting;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace Idem.Gateway.Hosting;

/// <summary>
/// Builds the gateway: YARP's routes and clusters from <c>ReverseProxy</c>, each route guarded by the idempotency
/// middleware with the policy of its metadata, the store from <c>Gateway</c>. <c>Program</c> runs it; tests run the
/// built program as a process.
/// </summary>
internal static class GatewayApp
{
    public static WebApplication Build(string[] args)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ApplicationName = typeof(GatewayApp).Assembly.GetName().Name,
        });
        var configuration = builder.Configuration;
        builder.WebHost.ConfigureKestrel((context, kestrel) =>
        {
            kestrel.AddServerHeader = false;

            // Kestrel refuses a header value with a byte past ASCII with a bare 400. Decoding the key's header as Latin-1
            // lets such a value reach Idem, which answers 400 problem+json idempotency-key-invalid.
            var keyHeader = context.Configuration["Idempotency:HeaderName"] is { Length: > 0 } name ? name : "Idempotency-Key";
            kestrel.RequestHeaderEncodingSelector = header => string.Equals(header, keyHeader, StringComparison.OrdinalIgnoreCase) ? Encoding.Latin1 : null;
        });

        var services = builder.Services;
        services.AddOptions<GatewayOptions>().BindConfiguration(GatewayOptions.SectionName).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GatewayOptions>, GatewayOptionsValidator>();
        var gateway = configuration.GetSection(GatewayOptions.SectionName).Get<GatewayOptions>() ?? new GatewayOptions();

        // Graceful shutdown: Kestrel stops taking requests and lets those in flight finish, up to this long.
        services.Configure<HostOptions>(o => o.ShutdownTimeout = gateway.ShutdownTimeout);
        services.AddProblemDetails();
        var idempotency = services.AddIdempotency();
        AddStore(idempotency, gateway, configuration);
        services.AddSingleton<IIdempotencyScopeResolver, RouteScopeResolver>();

        services.AddReverseProxy()
            .LoadFromConfig(configuration.GetSection("ReverseProxy"))
            .AddConfigFilter<RouteMetadataFilter>();
        services.AddSingleton<Yarp.ReverseProxy.Forwarder.IForwarderHttpClientFactory, GatewayHttpClientFactory>();
        services.AddHealthChecks().AddCheck<StoreHealthCheck>("store");
        GatewayTelemetry.Add(services, configuration);

        var app = builder.Build();
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Idem.Gateway");
        app.UseRouting();
        app.UseMiddleware<LateAnswerMiddleware>();
        app.UseIdempotency();
        app.MapHealthChecks("/healthz", new HealthCheckOptions
        {
            ResponseWriter = (context, report) =>
            {
                if (report.Status != Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Healthy)
                {
                    context.Response.Headers.RetryAfter = "1";
                }

                context.Response.ContentType = "text/plain";
                return context.Response.WriteAsync(report.Status.ToString());
            },
        });

        ServiceTelemetry.MapPrometheus(app);
        var defaultScope = app.Services.GetRequiredService<IOptions<GatewayOptions>>().Value.DefaultScope;
        app.MapReverseProxy(proxy =>
        {
            // Around the forwarder, so it sees how forwarding ended; YARP's own steps as in its default pipeline.
            proxy.UseMiddleware<UpstreamOutcomeMiddleware>();
            proxy.UseSessionAffinity();
            proxy.UseLoadBalancing();
            proxy.UsePassiveHealthChecks();
        }).ConfigureEndpoints((endpoint, route) =>
        {
            // Called for each route whenever YARP (re)builds its endpoints, so a reload applies the new metadata; the
            // config filter has already refused any it cannot read.
            var policy = RoutePolicy.Read(route, defaultScope);
            if (policy is null)
            {
                Log.RouteUnguarded(logger, route.RouteId);
                return;
            }

            Log.RoutePolicy(logger, route.RouteId, policy);
            endpoint.RequireIdempotency(policy.Configure);
            endpoint.Add(e => e.Metadata.Add(policy));
        });

        Log.Started(logger, gateway.Store, gateway.Scope);
        return app;
    }

    private static void AddStore(IIdempotencyBuilder idempotency, GatewayOptions gateway, ConfigurationManager configuration)
    {
        var connection = gateway.EffectiveConnectionString;
        switch (gateway.Store)
        {
            case GatewayStore.InMemory:
                idempotency.AddInMemoryStore();
                break;
            case GatewayStore.Redis when connection is not null:
                idempotency.AddRedisStore(connection, o => configuration.GetSection("Gateway:Redis").Bind(o));
                break;
            case GatewayStore.Postgres when connection is not null:
                idempotency.AddPostgresStore(connection, o => configuration.GetSection("Gateway:Postgres").Bind(o));
                break;
            case GatewayStore.Sqlite when connection is not null:
                idempotency.AddSqliteStore(connection, o => configuration.GetSection("Gateway:Sqlite").Bind(o));
                break;
            default:
                // No connection string: the options validator fails the start with the reason; the in-memory store fills
                // the slot until then.
                idempotency.AddInMemoryStore();
                break;
        }
    }
}
