using System.Net;
using Idem.Gateway.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.LoadHarness;

/// <summary>
/// Gateway mode's fronts: a reverse proxy in front of the bare echo app, in this process. YARP alone and the gateway are
/// built from the same arguments (one route, <c>/{**rest}</c>, one destination, logging filtered to nothing, an empty
/// content root), so the gateway's ratio to YARP alone is what its idempotency costs; the gateway is the real program
/// (<c>GatewayApp.Build</c>), with its store chosen by <c>--Gateway:Store</c> as an operator would.
/// </summary>
internal sealed class GatewayFront : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly EchoApp _upstream;
    private readonly string _contentRoot;

    private readonly IAsyncDisposable? _redis;

    private GatewayFront(WebApplication app, EchoApp upstream, string contentRoot, Uri baseAddress, IAsyncDisposable? redis)
    {
        _redis = redis;
        _app = app;
        _upstream = upstream;
        _contentRoot = contentRoot;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static bool IsFront(Variant variant)
        => variant is Variant.Yarp or Variant.YarpFloor or Variant.YarpRedisFloor or Variant.Gateway or Variant.GatewayRedis or Variant.GatewayPostgres;

    public static async Task<GatewayFront> StartAsync(Variant variant, HarnessOptions options)
    {
        var upstream = await EchoApp.StartAsync(Variant.Bare, options);
        var contentRoot = Directory.CreateTempSubdirectory("idem-harness-").FullName;
        string[] args =
        [
            "--contentRoot", contentRoot,
            "--urls", "http://127.0.0.1:0",
            "--environment", "Production",
            "--Logging:LogLevel:Default=None",
            "--ReverseProxy:Routes:echo:ClusterId=echo",
            "--ReverseProxy:Routes:echo:Match:Path=/{**rest}",
            "--ReverseProxy:Clusters:echo:Destinations:one:Address=" + upstream.BaseAddress,
            "--Idempotency:Retention=00:05:00",
            .. variant switch
            {
                Variant.Gateway => ["--Gateway:Store=InMemory"],
                Variant.GatewayRedis => ["--Gateway:Store=Redis", "--Gateway:ConnectionString=" + options.Redis, "--Gateway:Redis:KeyPrefix=idem-harness:" + Guid.NewGuid().ToString("N")[..8] + ":"],
                Variant.GatewayPostgres => ["--Gateway:Store=Postgres", "--Gateway:ConnectionString=" + options.Postgres, "--Gateway:Postgres:TableName=idem_harness_" + Guid.NewGuid().ToString("N")[..8]],
                _ => Array.Empty<string>(),
            },
        ];

        WebApplication app;
        StackExchange.Redis.ConnectionMultiplexer? redis = null;
        if (variant is Variant.Yarp or Variant.YarpFloor or Variant.YarpRedisFloor)
        {
            // The floors: YARP with the least a layer that remembers keys must do in front of it, in memory or on Redis.
            var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args });
            builder.WebHost.ConfigureKestrel(kestrel => kestrel.AddServerHeader = false);
            builder.Services.AddReverseProxy().LoadFromConfig(builder.Configuration.GetSection("ReverseProxy"));
            app = builder.Build();
            if (variant == Variant.YarpFloor)
            {
                EchoApp.UseFloor(app);
            }
            else if (variant == Variant.YarpRedisFloor)
            {
                redis = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(options.Redis!);
                StoreFloors.UseRedisFloor(app, redis, "idem-harness-floor:" + Guid.NewGuid().ToString("N")[..8] + ":");
            }

            app.MapReverseProxy();
        }
        else
        {
            app = GatewayApp.Build(args);
        }

        await app.StartAsync();
        var address = new Uri(app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single());
        if (!IPAddress.IsLoopback(IPAddress.Parse(address.Host)))
        {
            throw new InvalidOperationException($"Kestrel bound {address}, which is not loopback.");
        }

        return new GatewayFront(app, upstream, contentRoot, address, redis);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        await _upstream.DisposeAsync();
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }

        Directory.Delete(_contentRoot, recursive: true);
    }
}
