// A small web app on the Redis store, for tests that run several nodes as real processes on one Redis.
//
//   dotnet Idem.Redis.Tests.Host.dll --redis <configuration> --prefix <key prefix> [--batching]
//
// --batching turns on batched claims and completions (Idempotency:Batching:Enabled).
// Prints "IDEM-REDISHOST listening <url>" once it serves requests. POST /orders (key required) counts its run in Redis
// (INCR <prefix>runs:<key>, so runs on every node add up), prints "IDEM-REDISHOST ran <key>", and answers 201 with a
// body unique to the run. A request with "X-Hold: true" waits, after counting, until a line "release" arrives on
// stdin, so a test can keep a first execution in flight while its duplicates arrive. GET /ready answers 200.
using System.Globalization;
using IServer = Microsoft.AspNetCore.Hosting.Server.IServer;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using StackExchange.Redis;

var configuration = Argument("--redis") ?? throw new ArgumentException("--redis <configuration> is required.");
var prefix = Argument("--prefix") ?? throw new ArgumentException("--prefix <key prefix> is required.");
var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
_ = Task.Run(() =>
{
    while (Console.In.ReadLine() is { } line)
    {
        if (line == "release")
        {
            release.TrySetResult();
        }
    }
});

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");

// The application's own connection, shared by the store (AddRedisStore() takes it from DI) and the handler.
builder.Services.AddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(configuration + ",abortConnect=false"));
var batching = args.Contains("--batching");
builder.Services.AddIdempotency(o => o.Batching.Enabled = batching).AddRedisStore(o => o.KeyPrefix = prefix);

var app = builder.Build();
app.UseIdempotency();
app.MapGet("/ready", () => Results.Ok());
app.MapPost("/orders", async (HttpContext context, IConnectionMultiplexer redis) =>
{
    var key = context.Request.Headers["Idempotency-Key"].ToString();
    await redis.GetDatabase().StringIncrementAsync(prefix + "runs:" + key);
    Console.Out.WriteLine($"IDEM-REDISHOST ran {key}");
    Console.Out.Flush();
    if (context.Request.Headers["X-Hold"] == "true")
    {
        await release.Task;
    }

    var id = Guid.NewGuid();
    return Results.Created($"/orders/{id}", new { id, node = Environment.ProcessId });
}).RequireIdempotency();

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"IDEM-REDISHOST listening {address}"));
Console.Out.Flush();
await app.WaitForShutdownAsync();

string? Argument(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}
