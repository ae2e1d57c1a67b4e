using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.Http.Tests.Infrastructure;

/// <summary>
/// A real Kestrel on 127.0.0.1 with an OS-chosen port, protected by Idem (in-memory store), with an optional fault
/// middleware BEFORE <c>UseIdempotency()</c>: Idem runs the handler and records its result, then the fault hits.
/// </summary>
internal sealed class IdemServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private IdemServer(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static async Task<IdemServer> StartAsync(Action<WebApplication> map, Func<HttpContext, RequestDelegate, Task>? fault = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.AddServerHeader = false).UseUrls("http://127.0.0.1:0");
        builder.Services.AddIdempotency().AddInMemoryStore();

        var app = builder.Build();
        app.UseRouting();
        if (fault is not null)
        {
            app.Use(fault);
        }

        app.UseIdempotency();
        map(app);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        return new IdemServer(app, new Uri(address));
    }

    /// <summary>A client through the handler under test, over a real socket to this server. Jitter is 0 unless set.</summary>
    public HttpClient CreateClient(Action<IdempotentClientOptions>? configure = null, TimeProvider? time = null)
    {
        var client = Client.Create(new SocketsHttpHandler(), configure, time);
        client.BaseAddress = BaseAddress;
        return client;
    }

    /// <summary>
    /// Runs the rest of the pipeline with the response body held back in memory, so nothing reaches the client until the
    /// caller decides: what Idem recorded is then the only copy of the response.
    /// </summary>
    public static async Task<(int Status, byte[] Body)> RunHeldBackAsync(HttpContext context, RequestDelegate next)
    {
        var original = context.Features.Get<IHttpResponseBodyFeature>()!;
        using var held = new MemoryStream();
        context.Features.Set<IHttpResponseBodyFeature>(new StreamResponseBodyFeature(held));
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(original);
        }

        return (context.Response.StatusCode, held.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
