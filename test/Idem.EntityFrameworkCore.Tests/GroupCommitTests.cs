using System.Diagnostics.Metrics;
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
/// Group commit with a DbContext: concurrent requests take turns on one transaction, each in its own savepoint, and the
/// context of each handler writes in the batch's transaction; one commit answers them all, and a request whose SaveChanges
/// breaks a constraint rolls back to its savepoint and fails alone.
/// </summary>
public abstract class GroupCommitTests : IAsyncLifetime
{
    private const int Requests = 8;

    private readonly List<long> _commits = [];
    private WebApplication? _app;
    private HttpClient? _client;
    private MeterListener? _listener;

    protected abstract void UseDatabase(DbContextOptionsBuilder options);

    protected abstract void AddStore(IIdempotencyBuilder idempotency);

    protected abstract Task CreateTablesAsync(ShopDb db);

    /// <summary>The store's table, as SQL names it.</summary>
    protected abstract string KeysTable { get; }

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddDbContext<ShopDb>(UseDatabase);

        // A batch waits up to a second for one more request, so all the test's requests meet in one.
        var idempotency = builder.Services.AddIdempotency(o => o.GroupCommit.MaxWait = TimeSpan.FromSeconds(1));
        AddStore(idempotency);
        idempotency.AddEntityFrameworkCore<ShopDb>();

        _app = builder.Build();
        _app.UseIdempotency();
        _app.MapPost("/orders", async (PlaceOrder request, ShopDb db, IIdempotencyContext idem) =>
        {
            db.Orders.Add(new Order { Id = request.Id, Item = request.Item, Key = idem.Key });
            await db.SaveChangesAsync();
            return Results.Created($"/orders/{request.Id}", new { id = request.Id, seen = await db.Orders.CountAsync(o => o.Key == idem.Key) });
        }).RequireIdempotency(p => p.GroupCommit());

        await using (var scope = _app.Services.CreateAsyncScope())
        {
            await CreateTablesAsync(scope.ServiceProvider.GetRequiredService<ShopDb>());
        }

        _client = new HttpClient { BaseAddress = await LoopbackApp.StartAsync(_app) };

        // Only this app's meter (the one its IMeterFactory made).
        var factory = _app.Services.GetRequiredService<IMeterFactory>();
        _listener = new MeterListener
        {
            InstrumentPublished = (instrument, listener) =>
            {
                if (instrument.Name == "idem.group_commit.operations" && ReferenceEquals(instrument.Meter.Scope, factory))
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            },
        };
        _listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            lock (_commits)
            {
                _commits.Add(value);
            }
        });
        _listener.Start();
    }

    public async Task DisposeAsync()
    {
        _listener?.Dispose();
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task ConcurrentRequests_OneCommit_OneBreakingAConstraintFailsAlone()
    {
        // A warm-up request, in a batch of its own, before the listener counts.
        using (var warmUp = await PostAsync(NewKey(), Guid.NewGuid()))
        {
            Assert.Equal(HttpStatusCode.Created, warmUp.StatusCode);
        }

        lock (_commits)
        {
            _commits.Clear();
        }

        var inTheWay = Guid.NewGuid();
        await using (var scope = _app!.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            db.Orders.Add(new Order { Id = inTheWay, Item = "in the way" });
            await db.SaveChangesAsync();
        }

        var keys = Enumerable.Range(0, Requests).Select(_ => NewKey()).ToArray();
        var clashing = keys[Requests / 2];
        var responses = await Task.WhenAll(keys.Select(key => PostAsync(key, key == clashing ? inTheWay : Guid.NewGuid())));
        try
        {
            for (var i = 0; i < Requests; i++)
            {
                var body = await responses[i].Content.ReadAsStringAsync();
                if (keys[i] == clashing)
                {
                    Assert.Equal(HttpStatusCode.InternalServerError, responses[i].StatusCode);
                    Assert.Equal(0, await CountOrdersAsync(keys[i]));
                    Assert.Equal(0, await CountKeysAsync(keys[i]));
                }
                else
                {
                    Assert.True(responses[i].StatusCode == HttpStatusCode.Created, $"{(int)responses[i].StatusCode}: {body}");
                    Assert.Contains("\"seen\":1", body, StringComparison.Ordinal);
                    Assert.Equal(1, await CountOrdersAsync(keys[i]));
                    Assert.Equal(1, await CountKeysAsync(keys[i]));
                }
            }

            lock (_commits)
            {
                Assert.Equal([Requests - 1], _commits);
            }
        }
        finally
        {
            foreach (var response in responses)
            {
                response.Dispose();
            }
        }

        // The failed request's key was never kept: its retry runs, once.
        using var retry = await PostAsync(clashing, Guid.NewGuid());
        using var again = await PostAsync(clashing, Guid.NewGuid());
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountOrdersAsync(clashing));
    }

    private static string NewKey() => Guid.NewGuid().ToString("N");

    private Task<HttpResponseMessage> PostAsync(string key, Guid id)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new PlaceOrder(id, "book")) };
        request.Headers.Add("Idempotency-Key", key);
        return _client!.SendAsync(request);
    }

    private async Task<int> CountOrdersAsync(string key)
    {
        await using var scope = _app!.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.CountAsync(o => o.Key == key);
    }

    // Idem's records for the key (the stored key ends with the client's).
    private async Task<long> CountKeysAsync(string key)
    {
        await using var scope = _app!.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        // The table name is the test's own, not input.
#pragma warning disable EF1003
        return await db.Database.SqlQueryRaw<long>("SELECT COUNT(*) AS \"Value\" FROM " + KeysTable + " WHERE key LIKE {0}", "%" + key).SingleAsync();
#pragma warning restore EF1003
    }

    private sealed record PlaceOrder(Guid Id, string Item);
}

/// <summary>Group commit with the context and the store on one SQLite file.</summary>
public sealed class GroupCommitOnSqlite : GroupCommitTests, IDisposable
{
    private readonly OnSqlite _database = new();

    protected override void UseDatabase(DbContextOptionsBuilder options) => _database.Use(options);

    protected override void AddStore(IIdempotencyBuilder idempotency) => _database.Add(idempotency);

    protected override Task CreateTablesAsync(ShopDb db) => db.Database.EnsureCreatedAsync();

    protected override string KeysTable => "idem_keys";

    public void Dispose() => _database.Dispose();
}

/// <summary>Group commit with the context and the store in one PostgreSQL schema of this run.</summary>
public sealed class GroupCommitOnPostgres : GroupCommitTests
{
    protected override void UseDatabase(DbContextOptionsBuilder options) => OnPostgres.Use(options);

    protected override void AddStore(IIdempotencyBuilder idempotency) => OnPostgres.Add(idempotency);

    protected override Task CreateTablesAsync(ShopDb db) => OnPostgres.CreateOrdersTableAsync(db);

    protected override string KeysTable => "\"" + ShopDb.PostgresSchema + "\".idem_keys";
}
