using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>
/// A real Kestrel server on 127.0.0.1 with an OS-chosen port, Idem in the pipeline, and an HttpClient pointed at it.
/// </summary>
internal sealed class TestApp : IAsyncDisposable
{
    private TestApp(WebApplication app, Uri baseAddress)
    {
        App = app;
        BaseAddress = baseAddress;
        Client = CreateClient();
    }

    public WebApplication App { get; }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public IServiceProvider Services => App.Services;

    public IIdempotencyStore Store => Services.GetRequiredService<IIdempotencyStore>();

    /// <summary>Builds, configures and starts an app.</summary>
    /// <param name="map">Maps the endpoints (runs after <c>UseIdempotency()</c>).</param>
    /// <param name="options">Configures <see cref="IdempotencyOptions"/>.</param>
    /// <param name="services">Adds services (runs after Idem's registrations, so it can replace them).</param>
    /// <param name="store">Chooses the store; default the in-memory store.</param>
    /// <param name="pipeline">Adds middleware between routing and <c>UseIdempotency()</c> (authentication, …).</param>
    /// <param name="builder">Changes the builder itself (configuration, Kestrel options).</param>
    /// <param name="http">Configures <see cref="IdempotencyHttpOptions"/>.</param>
    public static async Task<TestApp> StartAsync(
        Action<WebApplication> map,
        Action<IdempotencyOptions>? options = null,
        Action<IServiceCollection>? services = null,
        Action<IIdempotencyBuilder>? store = null,
        Action<WebApplication>? pipeline = null,
        Action<WebApplicationBuilder>? builder = null,
        Action<IdempotencyHttpOptions>? http = null)
    {
        var app = Build(map, options, services, store, pipeline, builder, http);
        return new TestApp(app, await Idem.Testing.LoopbackApp.StartAsync(app));
    }

    /// <summary>Builds the app without starting it (for start-up validation tests).</summary>
    public static WebApplication Build(
        Action<WebApplication> map,
        Action<IdempotencyOptions>? options = null,
        Action<IServiceCollection>? services = null,
        Action<IIdempotencyBuilder>? store = null,
        Action<WebApplication>? pipeline = null,
        Action<WebApplicationBuilder>? builder = null,
        Action<IdempotencyHttpOptions>? http = null)
    {
        var webBuilder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        webBuilder.Logging.ClearProviders();
        webBuilder.WebHost.UseKestrel(k => k.AddServerHeader = false).UseUrls("http://127.0.0.1:0");
        builder?.Invoke(webBuilder);

        var idem = webBuilder.Services.AddIdempotency(options);
        if (http is not null)
        {
            idem.ConfigureHttp(http);
        }

        (store ?? (b => b.AddInMemoryStore())).Invoke(idem);
        services?.Invoke(webBuilder.Services);

        var app = webBuilder.Build();
        app.UseRouting();
        pipeline?.Invoke(app);
        app.UseIdempotency();
        map(app);
        return app;
    }

    public HttpClient CreateClient(Action<SocketsHttpHandler>? configure = null)
    {
        var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 256, AllowAutoRedirect = false };
        configure?.Invoke(handler);
        return new HttpClient(handler) { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
