using System.Net;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Grpc.Tests.Protos;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.Grpc.Tests.Infrastructure;

/// <summary>What the test's service does for every method: the test sets it.</summary>
internal delegate Task<Order> OrderHandler(CreateOrderRequest request, ServerCallContext context);

/// <summary>
/// A real Kestrel server on 127.0.0.1 (HTTP/2 without TLS) serving <see cref="OrdersService"/> with Idem's interceptor,
/// and a channel to it.
/// </summary>
internal sealed class GrpcTestApp : IAsyncDisposable
{
    private readonly List<GrpcChannel> _channels = [];

    private GrpcTestApp(WebApplication app, Uri address)
    {
        App = app;
        Address = address;
        Client = CreateClient();
    }

    public WebApplication App { get; }

    public Uri Address { get; }

    /// <summary>A client without the client interceptor: tests set keys themselves.</summary>
    public Orders.OrdersClient Client { get; }

    public IServiceProvider Services => App.Services;

    /// <summary>Starts a server whose every method runs <paramref name="handler"/>.</summary>
    /// <param name="handler">The service's behaviour.</param>
    /// <param name="store">Chooses the store; default the in-memory store.</param>
    /// <param name="services">Adds or replaces services after Idem's.</param>
    /// <param name="options">Configures <see cref="IdempotencyOptions"/>.</param>
    /// <param name="authenticate">Signs in whoever the <c>x-user</c> metadata names.</param>
    /// <param name="map">Adds conventions to the service's endpoints.</param>
    public static async Task<GrpcTestApp> StartAsync(
        OrderHandler handler,
        Action<IIdempotencyBuilder>? store = null,
        Action<IServiceCollection>? services = null,
        Action<IdempotencyOptions>? options = null,
        bool authenticate = false,
        Action<GrpcServiceEndpointConventionBuilder>? map = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddSingleton(handler);
        var idem = builder.Services.AddIdempotency(options);
        (store ?? (b => b.AddInMemoryStore())).Invoke(idem);
        builder.Services.AddGrpc(o => o.EnableDetailedErrors = true).AddIdempotency();
        services?.Invoke(builder.Services);
        if (authenticate)
        {
            builder.Services.AddAuthentication(HeaderAuthenticationHandler.SchemeName)
                .AddScheme<AuthenticationSchemeOptions, HeaderAuthenticationHandler>(HeaderAuthenticationHandler.SchemeName, null);
        }

        var app = builder.Build();
        if (authenticate)
        {
            app.UseAuthentication();
        }

        var endpoints = app.MapGrpcService<OrdersService>();
        map?.Invoke(endpoints);
        return new GrpcTestApp(app, await Idem.Testing.LoopbackApp.StartAsync(app));
    }

    /// <summary>A client on a channel of its own, optionally with a retry policy and interceptors.</summary>
    public Orders.OrdersClient CreateClient(RetryPolicy? retry = null, params Interceptor[] interceptors)
    {
        var options = new GrpcChannelOptions();
        if (retry is not null)
        {
            options.ServiceConfig = new ServiceConfig { MethodConfigs = { new MethodConfig { Names = { MethodName.Default }, RetryPolicy = retry } } };
        }

        var channel = GrpcChannel.ForAddress(Address, options);
        _channels.Add(channel);
        return interceptors.Length == 0 ? new Orders.OrdersClient(channel) : new Orders.OrdersClient(channel.Intercept(interceptors));
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var channel in _channels)
        {
            channel.Dispose();
        }

        await App.StopAsync();
        await App.DisposeAsync();
    }
}

/// <summary>The test service: every method runs the test's handler; the methods differ in their idempotency settings.</summary>
internal sealed class OrdersService(OrderHandler handler) : Orders.OrdersBase
{
    [IdempotentRpc]
    public override Task<Order> Create(CreateOrderRequest request, ServerCallContext context) => handler(request, context);

    [IdempotentRpc(WaitForConcurrent = true)]
    public override Task<Order> CreateWaiting(CreateOrderRequest request, ServerCallContext context) => handler(request, context);

    [IdempotentRpc(KeyRequired = false)]
    public override Task<Order> CreateOptional(CreateOrderRequest request, ServerCallContext context) => handler(request, context);

    [IdempotentRpc(Transactional = true)]
    public override Task<Order> CreateTransactional(CreateOrderRequest request, ServerCallContext context) => handler(request, context);

    public override Task<Order> Plain(CreateOrderRequest request, ServerCallContext context) => handler(request, context);
}

/// <summary>Calls and their metadata.</summary>
internal static class Calls
{
    public static Metadata Key(string key) => new() { { IdempotencyMetadataKeys.Key, key } };

    public static CreateOrderRequest Request(string item = "book", long amount = 1200) => new() { Item = item, Amount = amount };

    /// <summary>A call's answer: the message or the failure, with the metadata that came with it.</summary>
    public static async Task<Answer> AnswerAsync(AsyncUnaryCall<Order> call)
    {
        using (call)
        {
            try
            {
                var order = await call.ResponseAsync;
                return new Answer(order, StatusCode.OK, "", await call.ResponseHeadersAsync, call.GetTrailers());
            }
            catch (RpcException ex)
            {
                return new Answer(null, ex.StatusCode, ex.Status.Detail, null, ex.Trailers);
            }
        }
    }
}

internal sealed record Answer(Order? Order, StatusCode Status, string Detail, Metadata? Headers, Metadata Trailers)
{
    public bool IsReplayed => Trailers.GetValue(IdempotencyMetadataKeys.Replayed) == "true";

    public string? Trailer(string key) => Trailers.GetValue(key);
}
