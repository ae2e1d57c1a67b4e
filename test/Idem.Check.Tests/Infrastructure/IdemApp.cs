using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Check.Tests.Infrastructure;

/// <summary>A minimal API protected by Idem (a store of the test's choice, scope from X-Api-Key), with an effects endpoint.</summary>
internal sealed class IdemApp : IAsyncDisposable
{
    private int _effects;

    private IdemApp(WebApplication app) => App = app;

    public WebApplication App { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public int Effects => Volatile.Read(ref _effects);

    /// <summary>Starts the app on the store <paramref name="addStore"/> registers (the in-memory one when null).</summary>
    public static async Task<IdemApp> StartAsync(Action<IIdempotencyBuilder>? addStore = null)
    {
        var builder = Targets.AppBuilder();
        var idem = builder.Services.AddIdempotency(o => o.Retention = TimeSpan.FromMinutes(5)).ConfigureHttp(o => o.ScopeHeaderName = Targets.CallerHeader);
        (addStore ?? (b => b.AddInMemoryStore()))(idem);
        var app = builder.Build();
        var sut = new IdemApp(app);
        app.UseRouting();
        app.UseIdempotency();
        app.MapPost("/orders", async (HttpContext context) =>
        {
            if (context.Request.Headers.ContainsKey(Targets.FaultHeader))
            {
                return Results.Problem(statusCode: 500, title: "injected fault");
            }

            var id = Interlocked.Increment(ref sut._effects);
            if (context.Request.Headers.ContainsKey(Targets.DropHeader))
            {
                // A crash mid-response: the answer has begun (its length promised), then the handler throws, and the
                // server can only drop the connection.
                context.Response.StatusCode = 201;
                context.Response.ContentLength = 100;
                await context.Response.StartAsync();
                await context.Response.Body.WriteAsync("{\"id\":"u8.ToArray());
                await context.Response.Body.FlushAsync();
                throw new InvalidOperationException("dropped mid-response");
            }

            // Long enough that parallel duplicates find the first one still running.
            await Task.Delay(200);
            await Targets.HoldUntilHungUpAsync(context);
            return Results.Created($"/orders/{id}", new { id });
        }).RequireIdempotency();
        app.MapGet("/effects", () => sut.Effects);
        sut.BaseAddress = await Idem.Testing.LoopbackApp.StartAsync(app);
        return sut;
    }

    public async ValueTask DisposeAsync()
    {
        await App.StopAsync();
        await App.DisposeAsync();
    }
}
