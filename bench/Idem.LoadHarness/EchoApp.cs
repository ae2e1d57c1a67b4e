using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;

namespace Idem.LoadHarness;

/// <summary>
/// The app under load: one POST endpoint that binds a small JSON body and answers 201 with a small JSON body. The
/// bare and the Idem variants share everything (builder, Kestrel settings, logging, serializer, handler); the Idem
/// one adds exactly what a user writes: <c>AddIdempotency().AddInMemoryStore()</c>, <c>UseIdempotency()</c>,
/// <c>RequireIdempotency()</c>. The Redis variant swaps the store for <c>AddRedisStore(configuration)</c>, with records
/// under a prefix of its own and a retention of minutes, so a run leaves nothing behind for long. The floor variant puts
/// a few lines of middleware in Idem's place (see <see cref="UseFloor"/>).
/// </summary>
internal sealed class EchoApp : IAsyncDisposable
{
    public const string Path = "/v1/echo";

    private readonly WebApplication _app;

    private EchoApp(WebApplication app, Uri baseAddress)
    {
        _app = app;
        BaseAddress = baseAddress;
    }

    public Uri BaseAddress { get; }

    public static async Task<EchoApp> StartAsync(Variant variant, string? redis = null)
    {
        var idempotent = variant is Variant.InMemory or Variant.Redis;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = Environments.Production });

        // Identical for both: no logging providers at all, so neither pays for formatting or console I/O.
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, EchoJsonContext.Default));
        if (variant == Variant.InMemory)
        {
            builder.Services.AddIdempotency().AddInMemoryStore();
        }
        else if (variant == Variant.Redis)
        {
            builder.Services.AddIdempotency(o => o.Retention = TimeSpan.FromMinutes(5))
                .AddRedisStore(redis ?? throw new ArgumentNullException(nameof(redis)), o => o.KeyPrefix = "idem-harness:" + Guid.NewGuid().ToString("N")[..8] + ":");
        }

        var app = builder.Build();
        if (variant == Variant.Floor)
        {
            UseFloor(app);
        }
        else if (idempotent)
        {
            app.UseIdempotency();
        }

        var endpoint = app.MapPost(Path, (EchoRequest request) =>
            Results.Created($"{Path}/{request.Id}", new EchoResponse(request.Id, request.Amount, request.Currency, "accepted")));
        if (idempotent)
        {
            endpoint.RequireIdempotency();
        }

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        var uri = new Uri(address);
        if (!IPAddress.IsLoopback(IPAddress.Parse(uri.Host)))
        {
            await app.DisposeAsync();
            throw new InvalidOperationException($"Kestrel bound {address}, which is not loopback.");
        }

        return new EchoApp(app, uri);
    }

    /// <summary>
    /// The floor: the least that any layer which fingerprints requests and remembers their keys has to do. It reads the
    /// whole body (leaving it in Kestrel's pipe for the handler), hashes it with SHA-256 in one call and adds one
    /// dictionary entry per key; a key seen before answers 409. It does none of the rest of Idem's work: no canonical JSON,
    /// no method, route or query in the hash, no lease or owner token, no response captured, kept or held back. It is
    /// a lower bound on what a first execution costs, not something to deploy.
    /// </summary>
    private static void UseFloor(WebApplication app)
    {
        var seen = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        app.Use(async (context, next) =>
        {
            var reader = context.Request.BodyReader;
            var read = await reader.ReadAsync();
            while (!read.IsCompleted)
            {
                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
                read = await reader.ReadAsync();
            }

            var body = read.Buffer;
            var digest = body.IsSingleSegment ? SHA256.HashData(body.FirstSpan) : SHA256.HashData(body.ToArray());
            reader.AdvanceTo(body.Start, body.End);
            if (!seen.TryAdd(context.Request.Headers["Idempotency-Key"].ToString(), digest))
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }

            await next(context);
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>
/// What serves the endpoint: nothing, Idem on one of two stores, or the floor (first executions only); in gateway mode,
/// a reverse proxy in front of the bare app: YARP alone, or the idempotency gateway on one of three stores.
/// </summary>
internal enum Variant
{
    Bare,
    InMemory,
    Redis,
    Floor,
    Yarp,
    Gateway,
    GatewayRedis,
    GatewayPostgres,
}

internal sealed record EchoRequest(long Id, long Amount, string Currency, string To);

internal sealed record EchoResponse(long Id, long Amount, string Currency, string Status);

[JsonSerializable(typeof(EchoRequest))]
[JsonSerializable(typeof(EchoResponse))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class EchoJsonContext : JsonSerializerContext;
