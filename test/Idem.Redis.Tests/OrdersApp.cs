using System.Collections.Concurrent;
using System.Net;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Idem.Redis.Tests;

/// <summary>
/// A real Kestrel app on 127.0.0.1 whose <c>POST /orders</c> is protected by the Redis store. Between the middleware
/// and the store sits a <see cref="StoreProbe"/>, and the handler checks itself against it on every run: it must hold a
/// claim it has not yet used, and its key must not have been completed already. Any breach is recorded, never thrown,
/// so a test sees all of them at the end.
/// </summary>
internal sealed class OrdersApp : IAsyncDisposable
{
    public const string Path = "/orders";

    private readonly WebApplication _app;

    private OrdersApp(WebApplication app, Uri baseAddress, StoreProbe probe)
    {
        _app = app;
        BaseAddress = baseAddress;
        Probe = probe;
        Client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 64 })
        {
            BaseAddress = baseAddress,
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    public Uri BaseAddress { get; }

    public HttpClient Client { get; }

    public StoreProbe Probe { get; }

    /// <summary>Handler runs per client key.</summary>
    public ConcurrentDictionary<string, int> Runs { get; } = new(StringComparer.Ordinal);

    /// <summary>Every run that broke a rule, described.</summary>
    public ConcurrentQueue<string> Violations { get; } = new();

    public static async Task<OrdersApp> StartAsync(string redisConfiguration, string prefix, Action<IdempotencyOptions>? options = null)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = Environments.Production });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel().UseUrls("http://127.0.0.1:0");
        builder.Services.AddIdempotency(options).AddRedisStore(redisConfiguration, o => o.KeyPrefix = prefix);

        // The probe wraps the registered Redis store, so it sees exactly what the middleware asked and got.
        StoreProbe? probe = null;
        builder.Services.AddSingleton<IIdempotencyStore>(sp => probe = new StoreProbe(sp.GetRequiredService<RedisIdempotencyStore>()));

        var app = builder.Build();
        OrdersApp? self = null;
        app.UseIdempotency();
        app.MapPost(Path, (HttpContext context) =>
        {
            var key = context.Request.Headers["Idempotency-Key"].ToString();
            var run = self!.Runs.AddOrUpdate(key, 1, (_, n) => n + 1);
            if (self.Probe.Claimed(key) < run)
            {
                self.Violations.Enqueue($"{key}: run {run} with {self.Probe.Claimed(key)} claims");
            }

            if (self.Probe.CompletedOk(key))
            {
                self.Violations.Enqueue($"{key}: run {run} after Redis acknowledged its completion");
            }

            var id = Guid.NewGuid();
            return Results.Created($"{Path}/{id}", new { id, key });
        }).RequireIdempotency();

        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        _ = app.Services.GetRequiredService<IIdempotencyStore>();
        self = new OrdersApp(app, new Uri(address), probe!);
        return self;
    }

    public async Task<Answer> PostAsync(string key)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, Path) { Content = new StringContent("{\"amount\":1250}", System.Text.Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        using var response = await Client.SendAsync(request);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Contains("Idempotent-Replayed"));
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal sealed record Answer(HttpStatusCode Status, string Body, bool Replayed);

/// <summary>Passes every call to the Redis store and counts, per client key, the claims won and completions Redis acknowledged or failed.</summary>
internal sealed class StoreProbe(IIdempotencyStore inner) : IIdempotencyStore
{
    private readonly ConcurrentDictionary<string, int> _claimed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _completedOk = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _completeFailures = new(StringComparer.Ordinal);

    public int Claimed(string key) => _claimed.GetValueOrDefault(key);

    public bool CompletedOk(string key) => _completedOk.ContainsKey(key);

    public int CompleteFailures(string key) => _completeFailures.GetValueOrDefault(key);

    public async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        var result = await inner.TryClaimAsync(request, cancellationToken);
        if (result.Outcome == ClaimOutcome.Claimed)
        {
            _claimed.AddOrUpdate(ClientKey(request.StoreKey), 1, (_, n) => n + 1);
        }

        return result;
    }

    public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        try
        {
            var status = await inner.CompleteAsync(lease, response, cancellationToken);
            if (status == LeaseStatus.Ok)
            {
                _completedOk[ClientKey(lease.StoreKey)] = true;
            }

            return status;
        }
        catch
        {
            _completeFailures.AddOrUpdate(ClientKey(lease.StoreKey), 1, (_, n) => n + 1);
            throw;
        }
    }

    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.ReleaseAsync(lease, cancellationToken);

    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.RenewAsync(lease, cancellationToken);

    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => inner.GetAsync(storeKey, cancellationToken);

    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);

    // The client key is the store key's last part (tests use keys without '|').
    private static string ClientKey(string storeKey) => storeKey[(storeKey.LastIndexOf('|') + 1)..];
}
