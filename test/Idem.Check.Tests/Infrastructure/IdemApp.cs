using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Check.Tests.Infrastructure;

/// <summary>A minimal API protected by Idem (in-memory store, scope from X-Api-Key), with an effects endpoint.</summary>
internal sealed class IdemApp : IAsyncDisposable
{
    private int _effects;

    private IdemApp(WebApplication app) => App = app;

    public WebApplication App { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public int Effects => Volatile.Read(ref _effects);

    /// <summary>Starts the app on the in-memory store, or on SQLite when <paramref name="sqlitePath"/> is given.</summary>
    public static async Task<IdemApp> StartAsync(string? sqlitePath = null)
    {
        var builder = Targets.AppBuilder();
        var idem = builder.Services.AddIdempotency().ConfigureHttp(o => o.ScopeHeaderName = Targets.CallerHeader);
        _ = sqlitePath is null ? idem.AddInMemoryStore() : idem.AddSqliteStore("Data Source=" + sqlitePath);
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
            // Long enough that parallel duplicates find the first one still running.
            await Task.Delay(200);
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
