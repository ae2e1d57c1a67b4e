using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

namespace Samples.Tests;

/// <summary>
/// What a user of the sample gets, through its own Program (WebApplicationFactory) on the packages it installed: a
/// retried order is replayed, fifty racing copies of one order write one row, and an order whose handler fails after
/// SaveChanges leaves neither the row nor the key. The test adds only observers: a middleware counting the requests that
/// reached the app, and a SaveChanges interceptor that holds or fails the handler's write. Linked as source into each
/// sample's test project, where <c>Program</c> and <c>OrdersDb</c> are that sample's.
/// </summary>
public abstract class ExactlyOnceTests : IAsyncLifetime
{
    private const int Racers = 50;

    private readonly Observer _observer = new();
    private WebApplicationFactory<Program>? _factory;

    /// <summary>The connection string the sample is started with (ConnectionStrings:Orders).</summary>
    protected abstract Task<string> CreateDatabaseAsync();

    protected abstract Task DropDatabaseAsync();

    protected HttpClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var connectionString = await CreateDatabaseAsync();
        _factory = new WebApplicationFactory<Program>().WithWebHostBuilder(web =>
        {
            web.UseSetting("ConnectionStrings:Orders", connectionString);
            web.ConfigureTestServices(services =>
            {
                services.AddSingleton<IStartupFilter>(_observer);
                services.ConfigureDbContext<OrdersDb>(o => o.AddInterceptors(_observer));
            });
        });
        Client = _factory.CreateClient();
    }

    public async Task DisposeAsync()
    {
        Client.Dispose();
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }

        await DropDatabaseAsync();
    }

    [Fact]
    public async Task RetriedOrder_IsReplayed()
    {
        var key = NewKey();
        using var first = await PostAsync(key, "book");
        using var retry = await PostAsync(key, "book");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(first.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(["true"], retry.Headers.GetValues("Idempotent-Replayed"));
        Assert.Equal(await first.Content.ReadAsStringAsync(), await retry.Content.ReadAsStringAsync());
        Assert.Equal(1, await CountOrdersAsync(key));
    }

    [Fact]
    public async Task FiftyParallelOrdersWithOneKey_WriteOneRow()
    {
        var key = NewKey();
        _observer.Reset();
        var responses = await Task.WhenAll(Enumerable.Range(0, Racers).Select(_ => PostAsync(key, "hold")));
        try
        {
            // The first handler was held in SaveChanges until all fifty had reached the app: they met it running. Each
            // other one was refused as in progress (409), or waited on the uncommitted claim and got its answer replayed.
            Assert.Equal(Racers, _observer.Arrived);
            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created && !r.Headers.Contains("Idempotent-Replayed"));
            Assert.All(responses, r => Assert.True(
                r.StatusCode is HttpStatusCode.Created or HttpStatusCode.Conflict, $"{(int)r.StatusCode}: {r.Content.ReadAsStringAsync().Result}"));
            Assert.Equal(1, await CountOrdersAsync(key));
            Assert.Equal(1, await CountKeysAsync(key));
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }
    }

    [Fact]
    public async Task HandlerThrowsAfterSaveChanges_LeavesNoRowAndNoKey()
    {
        var key = NewKey();
        using var failed = await PostAsync(key, "boom");

        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(0, await CountOrdersAsync(key));
        Assert.Equal(0, await CountKeysAsync(key));

        // The key went with the rolled-back row: the retry runs, once.
        using var retry = await PostAsync(key, "book");
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountOrdersAsync(key));
    }

    private static string NewKey() => Guid.NewGuid().ToString("N");

    // The key doubles as the order's customer, so the test counts the rows its own requests wrote.
    private Task<HttpResponseMessage> PostAsync(string key, string item)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new { customer = key, item, quantity = 1 }) };
        request.Headers.Add("Idempotency-Key", key);
        return Client.SendAsync(request);
    }

    // Committed rows only: a context of its own, outside any request.
    private async Task<int> CountOrdersAsync(string key)
    {
        await using var scope = _factory!.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<OrdersDb>().Orders.CountAsync(o => o.Customer == key);
    }

    // Idem's records for the key (the stored key is "scope/method/route/key").
    private async Task<long> CountKeysAsync(string key)
    {
        await using var scope = _factory!.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<OrdersDb>();
        var pattern = "%" + key;
        return await db.Database.SqlQuery<long>($"SELECT COUNT(*) AS \"Value\" FROM idem_keys WHERE key LIKE {pattern}").SingleAsync();
    }

    /// <summary>Counts the POSTs that reached the app (before Idem), holds a "hold" order's write until all the racers
    /// arrived, and fails a "boom" order right after its write.</summary>
    private sealed class Observer : SaveChangesInterceptor, IStartupFilter
    {
        private int _arrived;

        public int Arrived => Volatile.Read(ref _arrived);

        public void Reset() => Volatile.Write(ref _arrived, 0);

        public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
        {
            app.Use((context, nextMiddleware) =>
            {
                if (HttpMethods.IsPost(context.Request.Method))
                {
                    Interlocked.Increment(ref _arrived);
                }

                return nextMiddleware(context);
            });
            next(app);
        };

        public override async ValueTask<InterceptionResult<int>> SavingChangesAsync(DbContextEventData eventData, InterceptionResult<int> result, CancellationToken cancellationToken = default)
        {
            if (Items(eventData).Contains("hold"))
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                while (Arrived < Racers && !timeout.IsCancellationRequested)
                {
                    await Task.Delay(5, CancellationToken.None);
                }

                await Task.Delay(200, CancellationToken.None);
            }

            return result;
        }

        public override ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
            => Items(eventData).Contains("boom")
                ? throw new InvalidOperationException("the handler fails after SaveChanges wrote the order")
                : ValueTask.FromResult(result);

        private static List<string> Items(DbContextEventData eventData)
            => eventData.Context!.ChangeTracker.Entries<Order>().Select(e => e.Entity.Item).ToList();
    }
}
