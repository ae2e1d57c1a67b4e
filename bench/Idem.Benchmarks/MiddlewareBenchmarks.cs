using System.Text;
using BenchmarkDotNet.Attributes;
using Idem.AspNetCore;
using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Patterns;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Idem.Benchmarks;

/// <summary>
/// The whole middleware path for one request, without Kestrel or the network: the handler alone (baseline), the
/// handler behind Idem with a new key (claim, capture, complete), and a replay of a completed key. It shows where
/// the HTTP harness's difference goes.
/// </summary>
[MemoryDiagnoser]
public class MiddlewareBenchmarks
{
    private static readonly byte[] RequestBody = Encoding.UTF8.GetBytes("""{"id":42,"amount":1250,"currency":"EUR","to":"acct_7Hq2"}""");

    // What the HTTP harness's endpoint does, minus routing and Kestrel: read and bind the JSON body, answer 201 with a
    // Location and a small JSON body through the response's PipeWriter. Reading the body matters: Idem reads it too,
    // and whoever reads first pays for the request's body reader.
    private readonly RequestDelegate _handler = static async context =>
    {
        var request = await context.Request.ReadFromJsonAsync(EchoJsonContext.Default.EchoRequest).ConfigureAwait(false);
        context.Response.StatusCode = StatusCodes.Status201Created;
        context.Response.Headers.Location = "/v1/echo/" + request!.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        await context.Response.WriteAsJsonAsync(new EchoResponse(request.Id, request.Amount, request.Currency, "accepted"), EchoJsonContext.Default.EchoResponse).ConfigureAwait(false);
    };

    private const int StoreRecycle = 16 * 1024;

    // Request services as ASP.NET Core gives them: a scope per request.
    private readonly IServiceScopeFactory _scopes = new ServiceCollection().BuildServiceProvider().GetRequiredService<IServiceScopeFactory>();

    private Endpoint _endpoint = null!;
    private IdempotencyMiddleware _middleware = null!;
    private IdempotencyMiddleware _freshMiddleware = null!;
    private long _sequence;
    private string _replayKey = "";

    [GlobalSetup]
    public async Task Setup()
    {
        _endpoint = new RouteEndpoint(_handler, RoutePatternFactory.Parse("/v1/echo"), 0,
            new EndpointMetadataCollection(new ConventionIdempotencyMetadata(new IdempotencyPolicy())), "echo");
        _middleware = CreateMiddleware();
        _freshMiddleware = CreateMiddleware();
        _replayKey = Guid.NewGuid().ToString();
        await Served(_middleware.InvokeAsync, CreateContext(_replayKey));
    }

    [Benchmark(Baseline = true, Description = "handler alone (no Idem)")]
    public Task Bare() => Served(_handler, CreateContext(NextKey()));

    [Benchmark(Description = "Idem, first execution")]
    public Task FirstExecution()
    {
        var key = NextKey();
        if (_sequence % StoreRecycle == 0)
        {
            // Keeps the store small: millions of records would measure the GC, not Idem. Costs little per request.
            _freshMiddleware = CreateMiddleware();
        }

        return Served(_freshMiddleware.InvokeAsync, CreateContext(key));
    }

    /// <summary>For the driver: one store keeps every record, as in the HTTP harness (not a benchmark: it grows).</summary>
    public Task FirstExecutionKept() => Served(_middleware.InvokeAsync, CreateContext(NextKey()));

    /// <summary>For the driver: the fingerprint step alone.</summary>
    public Task Fingerprint()
    {
        HttpRequestFingerprint.Compute(_fingerprintContext ??= CreateContext("key"), "POST", "/v1/echo", RequestBody, null);
        return Task.CompletedTask;
    }

    private DefaultHttpContext? _fingerprintContext;

    [Benchmark(Description = "Idem, replay")]
    public Task Replay()
    {
        NextKey();
        return Served(_middleware.InvokeAsync, CreateContext(_replayKey));
    }

    // As a server does when the pipeline returns: complete the response, which flushes what is left in its writer and
    // gives the writer's buffers back, and end the request's service scope.
    private static async Task Served(RequestDelegate pipeline, HttpContext context)
    {
        await pipeline(context).ConfigureAwait(false);
        await context.Response.CompleteAsync().ConfigureAwait(false);
        ((IDisposable)context.RequestServices).Dispose();
    }

    private IdempotencyMiddleware CreateMiddleware()
    {
        var options = Options.Create(new IdempotencyOptions());
        var store = new InMemoryIdempotencyStore(TimeProvider.System);
        var executor = new IdempotentExecutor(store, options, TimeProvider.System, NullLogger<IdempotentExecutor>.Instance, IdempotencyMetrics.Shared);
        var http = Options.Create(new IdempotencyHttpOptions());
        return new IdempotencyMiddleware(_handler, executor, new DefaultScopeResolver(http), options, http, NullLogger<IdempotencyMiddleware>.Instance);
    }

    // Both sides build the same request, key and service scope included, so only Idem's own work differs.
    private string NextKey() => "key-" + (++_sequence).ToString(System.Globalization.CultureInfo.InvariantCulture);

    private DefaultHttpContext CreateContext(string key)
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Method = HttpMethods.Post;
        request.Path = "/v1/echo";
        request.ContentType = "application/json";
        request.ContentLength = RequestBody.Length;
        request.Body = new MemoryStream(RequestBody, writable: false);
        request.Headers["Idempotency-Key"] = key;
        context.SetEndpoint(_endpoint);
        context.RequestServices = _scopes.CreateScope().ServiceProvider;
        return context;
    }
}

internal sealed record EchoRequest(long Id, long Amount, string Currency, string To);

internal sealed record EchoResponse(long Id, long Amount, string Currency, string Status);

[System.Text.Json.Serialization.JsonSerializable(typeof(EchoRequest))]
[System.Text.Json.Serialization.JsonSerializable(typeof(EchoResponse))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(System.Text.Json.JsonSerializerDefaults.Web)]
internal sealed partial class EchoJsonContext : System.Text.Json.Serialization.JsonSerializerContext;
