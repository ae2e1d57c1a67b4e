using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Npgsql;
using ConnectionMultiplexer = StackExchange.Redis.ConnectionMultiplexer;

namespace Idem.LoadHarness;

/// <summary>
/// The app under load: one POST endpoint that binds a small JSON body and answers 201 with a small JSON body. The
/// bare and the Idem variants share everything (builder, Kestrel settings, logging, serializer, handler); the Idem
/// one adds exactly what a user writes: <c>AddIdempotency().AddInMemoryStore()</c>, <c>UseIdempotency()</c>,
/// <c>RequireIdempotency()</c>. The Redis and PostgreSQL variants swap the store for <c>AddRedisStore</c> or
/// <c>AddPostgresStore</c>, with records under a prefix or a table of their own (dropped after the run) and a retention of
/// minutes, so a run leaves nothing behind for long; <see cref="StoreFloors"/> are their floors. The floor variant puts
/// a few lines of middleware in Idem's place (see <see cref="UseFloor"/>).
/// </summary>
internal sealed class EchoApp : IAsyncDisposable
{
    public const string Path = "/v1/echo";

    private readonly WebApplication _app;
    private readonly List<Func<ValueTask>> _cleanup;

    private EchoApp(WebApplication app, Uri baseAddress, List<Func<ValueTask>> cleanup)
    {
        _app = app;
        BaseAddress = baseAddress;
        _cleanup = cleanup;
    }

    public Uri BaseAddress { get; }

    public static async Task<EchoApp> StartAsync(Variant variant, HarnessOptions options)
    {
        var idempotent = variant is Variant.InMemory or Variant.Redis or Variant.RedisBatched or Variant.Postgres or Variant.PostgresBatched;
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], EnvironmentName = Environments.Production });

        // Identical for all: no logging providers at all, so none pays for formatting or console I/O.
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, EchoJsonContext.Default));

        // Records of a run go under a name of its own, and are dropped (PostgreSQL) or expire (Redis) after it.
        var run = Guid.NewGuid().ToString("N")[..8];
        var cleanup = new List<Func<ValueTask>>();
        switch (variant)
        {
            case Variant.InMemory:
                builder.Services.AddIdempotency().AddInMemoryStore();
                break;
            case Variant.Redis or Variant.RedisBatched:
                builder.Services.AddIdempotency(o =>
                    {
                        o.Retention = TimeSpan.FromMinutes(5);
                        o.Batching.Enabled = variant == Variant.RedisBatched;
                        o.Batching.MaxWait = options.BatchMaxWait;
                    })
                    .AddRedisStore(Required(options.Redis, "--redis"), o => o.KeyPrefix = "idem-harness:" + run + ":");
                break;
            case Variant.Postgres or Variant.PostgresBatched:
                builder.Services.AddIdempotency(o =>
                    {
                        o.Retention = TimeSpan.FromMinutes(5);
                        o.Batching.Enabled = variant == Variant.PostgresBatched;
                        o.Batching.MaxWait = options.BatchMaxWait;
                    })
                    .AddPostgresStore(Required(options.Postgres, "--postgres"), o => o.TableName = "idem_harness_" + run);
                cleanup.Add(() => DropTableAsync(options.Postgres!, "idem_harness_" + run));
                break;
        }

        var app = builder.Build();
        switch (variant)
        {
            case Variant.Floor:
                UseFloor(app);
                break;
            case Variant.RedisFloor:
                var redis = await ConnectionMultiplexer.ConnectAsync(Required(options.Redis, "--redis"));
                cleanup.Add(redis.DisposeAsync);
                StoreFloors.UseRedisFloor(app, redis, "idem-harness-floor:" + run + ":");
                break;
            case Variant.PostgresFloor:
                var dataSource = NpgsqlDataSource.Create(Required(options.Postgres, "--postgres"));
                cleanup.Add(dataSource.DisposeAsync);
                cleanup.Add(() => DropTableAsync(options.Postgres!, "idem_harness_floor_" + run));
                await StoreFloors.CreatePostgresTableAsync(dataSource, "idem_harness_floor_" + run);
                StoreFloors.UsePostgresFloor(app, dataSource, "idem_harness_floor_" + run);
                break;
            default:
                if (idempotent)
                {
                    app.UseIdempotency();
                }

                break;
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

        return new EchoApp(app, uri, cleanup);
    }

    /// <summary>
    /// The floor: the least that any layer which fingerprints requests and remembers their keys has to do. It reads the
    /// whole body (leaving it in Kestrel's pipe for the handler), hashes it with SHA-256 in one call and adds one
    /// dictionary entry per key; a key seen before answers 409. It does none of the rest of Idem's work: no canonical JSON,
    /// no method, route or query in the hash, no lease or owner token, no response captured, kept or held back. It is
    /// a lower bound on what a first execution costs, not something to deploy.
    /// </summary>
    internal static void UseFloor(WebApplication app)
    {
        var seen = new ConcurrentDictionary<string, byte[]>(StringComparer.Ordinal);
        app.Use(async (context, next) =>
        {
            var digest = await StoreFloors.HashBodyAsync(context.Request.BodyReader);
            if (!seen.TryAdd(context.Request.Headers["Idempotency-Key"].ToString(), digest))
            {
                context.Response.StatusCode = StatusCodes.Status409Conflict;
                return;
            }

            await next(context);
        });
    }

    private static string Required(string? value, string option)
        => value ?? throw new InvalidOperationException($"This variant needs {option}.");

    private static async ValueTask DropTableAsync(string connectionString, string table)
    {
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        await using var command = dataSource.CreateCommand($"DROP TABLE IF EXISTS {table}");
        await command.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        foreach (var step in _cleanup)
        {
            await step();
        }
    }
}

/// <summary>
/// What serves the endpoint: nothing, Idem on one of its stores, or a floor (first executions only); in gateway mode, a
/// reverse proxy in front of the bare app: YARP alone, or the idempotency gateway on one of three stores.
/// </summary>
internal enum Variant
{
    Bare,
    InMemory,
    Redis,
    Floor,
    Postgres,
    PostgresBatched,
    RedisBatched,
    RedisFloor,
    PostgresFloor,
    Yarp,
    Gateway,
    GatewayRedis,
    GatewayPostgres,
    YarpFloor,
    YarpRedisFloor,
}

internal sealed record EchoRequest(long Id, long Amount, string Currency, string To);

internal sealed record EchoResponse(long Id, long Amount, string Currency, string Status);

[JsonSerializable(typeof(EchoRequest))]
[JsonSerializable(typeof(EchoResponse))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class EchoJsonContext : JsonSerializerContext;
