using System.Net;
using System.Net.Http.Json;
using Idem.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.EntityFrameworkCore.Tests;

/// <summary>
/// A minimal API on Entity Framework Core with a transactional endpoint: the context a handler takes from DI writes in
/// the claim's transaction, so the key, the rows SaveChanges writes and the stored response commit together, on SQLite
/// and on PostgreSQL.
/// </summary>
public abstract class ContextTests : IAsyncLifetime
{
    private WebApplication? _app;
    private HttpClient? _client;

    private const int Racers = 50;

    // Requests that reached the app (before Idem): a handler whose item is "hold" waits for all the racers.
    private int _arrived;

    protected abstract void UseDatabase(DbContextOptionsBuilder options);

    protected abstract void AddStore(IIdempotencyBuilder idempotency);

    protected abstract Task CreateTablesAsync(ShopDb db);

    protected HttpClient Client => _client!;

    protected IServiceProvider Services => _app!.Services;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(System.Net.IPAddress.Loopback, 0));
        builder.Services.AddDbContext<ShopDb>(UseDatabase);
        var idempotency = builder.Services.AddIdempotency();
        AddStore(idempotency);
        idempotency.AddEntityFrameworkCore<ShopDb>();

        _app = builder.Build();
        _app.Use((context, next) =>
        {
            Interlocked.Increment(ref _arrived);
            return next(context);
        });
        _app.UseIdempotency();
        _app.MapPost("/orders", async (OrderRequest request, ShopDb db, IIdempotencyContext idem) =>
        {
            var order = new Order { Id = Guid.NewGuid(), Item = request.Item, Key = idem.Key };
            db.Orders.Add(order);
            await db.SaveChangesAsync();

            // The handler reads its own write through the context: the same connection and transaction.
            var mine = await db.Orders.CountAsync(o => o.Key == idem.Key);
            if (request.Item == "boom")
            {
                throw new InvalidOperationException("the handler fails after SaveChanges");
            }

            if (request.Item == "hold")
            {
                // Held until every racer has reached the app, and a moment more: they all meet this one running.
                while (Volatile.Read(ref _arrived) < Racers)
                {
                    await Task.Delay(5);
                }

                await Task.Delay(200);
            }

            return Results.Created($"/orders/{order.Id}", new { id = order.Id, seen = mine });
        }).RequireIdempotency(p => p.Transactional());

        await using (var scope = _app.Services.CreateAsyncScope())
        {
            await CreateTablesAsync(scope.ServiceProvider.GetRequiredService<ShopDb>());
        }

        _client = new HttpClient { BaseAddress = await LoopbackApp.StartAsync(_app) };
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Retry_IsReplayedAndTheOrderWrittenOnce()
    {
        var key = NewKey();
        using var first = await PostAsync(key, "book");
        using var retry = await PostAsync(key, "book");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Contains("\"seen\":1", await first.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(1, await CountAsync(key));
    }

    [Fact]
    public async Task FiftyParallelRequestsWithOneKey_OneOrder()
    {
        var key = NewKey();
        Volatile.Write(ref _arrived, 0);
        var responses = await Task.WhenAll(Enumerable.Range(0, Racers).Select(_ => PostAsync(key, "hold")));

        // One ran; the others, sent while it was held, were refused as in progress (409) or waited on its uncommitted
        // claim and then got its answer (a transactional claim waits for the transaction that holds the key).
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created && !r.Headers.Contains("Idempotent-Replayed"));
        Assert.All(responses, r => Assert.True(
            r.StatusCode == HttpStatusCode.Conflict || (r.StatusCode == HttpStatusCode.Created),
            $"{(int)r.StatusCode}: {r.Content.ReadAsStringAsync().Result}"));
        Assert.Equal(Racers - 1, responses.Count(r => r.StatusCode == HttpStatusCode.Conflict || r.Headers.Contains("Idempotent-Replayed")));
        Assert.Equal(1, await CountAsync(key));
        foreach (var response in responses)
        {
            response.Dispose();
        }
    }

    [Fact]
    public async Task HandlerThrowsAfterSaveChanges_NoOrderAndNoKey()
    {
        var key = NewKey();
        using var failed = await PostAsync(key, "boom");

        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(0, await CountAsync(key));

        // The key was given back with the rolled-back writes: a corrected retry runs.
        using var retry = await PostAsync(key, "book");
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountAsync(key));
    }

    [Fact]
    public async Task OperationInPhases_TheContextWritesInEachPhasesTransaction()
    {
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var key = NewKey();
        var operation = IdempotentOperation.Create("orders.two-phases", key) with { Transactional = true };

        var result = await executor.RunAsync(operation, async (idem, ct) =>
        {
            await using var scope = Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            db.Orders.Add(new Order { Id = Guid.NewGuid(), Item = "created", Key = key });
            await db.SaveChangesAsync(ct);
            await idem.CommitPhaseAsync("created", ct);

            await idem.BeginPhaseAsync(ct);
            db.Orders.Add(new Order { Id = Guid.NewGuid(), Item = "settled", Key = key });
            await db.SaveChangesAsync(ct);
            return "done";
        });

        Assert.Equal(IdempotentOutcome.Executed, result.Outcome);
        Assert.Equal(2, await CountAsync(key));
    }

    [Fact]
    public async Task SecondPhaseFails_TheFirstPhasesWritesStay_TheRetryResumesAtItsRecoveryPoint()
    {
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var key = NewKey();
        var operation = IdempotentOperation.Create("orders.resumed", key) with { Transactional = true };
        var firstPhases = 0;
        var failSecondPhase = true;
        var seenPoints = new List<string?>();

        async ValueTask<string> RunAsync(IIdempotencyContext idem, CancellationToken ct)
        {
            seenPoints.Add(idem.RecoveryPoint);
            await using var scope = Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            if (idem.RecoveryPoint is null)
            {
                firstPhases++;
                db.Orders.Add(new Order { Id = Guid.NewGuid(), Item = "created", Key = key });
                await db.SaveChangesAsync(ct);
                await idem.CommitPhaseAsync("created", ct);
                await idem.BeginPhaseAsync(ct);
            }

            db.Orders.Add(new Order { Id = Guid.NewGuid(), Item = "settled", Key = key });
            await db.SaveChangesAsync(ct);
            if (failSecondPhase)
            {
                throw new InvalidOperationException("the second phase fails after SaveChanges");
            }

            return "settled";
        }

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await executor.RunAsync(operation, RunAsync));

        // The first phase committed with its point; the second phase's row rolled back with it.
        Assert.Equal(1, await CountAsync(key));

        failSecondPhase = false;
        var resumed = await executor.RunAsync(operation, RunAsync);
        var replayed = await executor.RunAsync(operation, RunAsync);

        Assert.Equal(IdempotentOutcome.Executed, resumed.Outcome);
        Assert.Equal(IdempotentOutcome.Replayed, replayed.Outcome);
        Assert.Equal("settled", replayed.Value);
        Assert.Equal([null, "created"], seenPoints);
        Assert.Equal(1, firstPhases);
        Assert.Equal(2, await CountAsync(key));
    }

    [Fact]
    public async Task OutsideAnOperation_TheContextIsItsOwn()
    {
        var key = NewKey();
        await using (var scope = Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            db.Orders.Add(new Order { Id = Guid.NewGuid(), Item = "walk-in", Key = key });
            await db.SaveChangesAsync();
        }

        Assert.Equal(1, await CountAsync(key));
    }

    [Fact]
    public async Task ContextWithoutUseIdempotency_IsRefusedWithTheReason()
    {
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var builder = new DbContextOptionsBuilder<ShopDb>();
        UseDatabase(builder);
        var operation = IdempotentOperation.Create("orders.unprepared", NewKey()) with { Transactional = true };

        var error = await Assert.ThrowsAsync<InvalidOperationException>(async () => await executor.RunAsync(operation, (_, _) =>
        {
            using var db = new ShopDb(builder.Options).JoinIdempotentTransaction();
            return ValueTask.FromResult(1);
        }));

        Assert.Contains("UseIdempotency()", error.Message, StringComparison.Ordinal);
    }

    protected static string NewKey() => Guid.NewGuid().ToString("N");

    private Task<HttpResponseMessage> PostAsync(string key, string item)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new OrderRequest(item)) };
        request.Headers.Add("Idempotency-Key", key);
        return Client.SendAsync(request);
    }

    // Committed rows only: a context of its own, outside any operation.
    protected async Task<int> CountAsync(string key)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.CountAsync(o => o.Key == key);
    }
}
