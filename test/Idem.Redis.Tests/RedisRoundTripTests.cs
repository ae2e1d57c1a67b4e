using System.Net;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Redis.Tests;

/// <summary>
/// What each step costs on the wire, counted by Redis itself (<c>INFO commandstats</c>) on a server of the test's own,
/// so nothing else running against Redis can move the counts.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisRoundTripTests
{
    private const string Fingerprint = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    [Fact]
    public async Task Store_FirstExecutionIsTwoScriptCallsAndReplayOne()
    {
        await using var redis = await PrivateRedis.StartAsync();
        await using var provider = CreateStore(redis, out var store);
        await FirstExecutionAsync(store, NewStoreKey()); // loads the scripts it uses
        await redis.CommandAsync("CONFIG", "RESETSTAT");

        var key = NewStoreKey();
        var claim = await store.TryClaimAsync(Request(key));
        var afterClaim = await redis.CallsAsync("evalsha");
        await store.CompleteAsync(claim.Lease!, Response());
        var afterComplete = await redis.CallsAsync("evalsha");
        var replay = await store.TryClaimAsync(Request(key));
        var afterReplay = await redis.CallsAsync("evalsha");

        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        Assert.Equal((1, 2, 3), (afterClaim, afterComplete, afterReplay));
        Assert.Equal(0, await redis.CallsAsync("eval"));
    }

    [Fact]
    public async Task Store_EveryStepIsOneScriptCall_RecoveryPointsIncluded()
    {
        await using var redis = await PrivateRedis.StartAsync();
        await using var provider = CreateStore(redis, out var store);
        var warm = (await store.TryClaimAsync(Request(NewStoreKey()))).Lease!; // loads every script the steps below use
        await store.RenewAsync(warm);
        await store.SetRecoveryPointAsync(warm, "warm");
        await store.ReleaseAsync(warm);
        await store.GetAsync(warm.StoreKey);
        await FirstExecutionAsync(store, NewStoreKey());
        await redis.CommandAsync("CONFIG", "RESETSTAT");

        var key = NewStoreKey();
        var counts = new List<(string Step, long Calls)>();
        async Task<T> Count<T>(string step, Func<Task<T>> call)
        {
            var before = await redis.CallsAsync("evalsha");
            var result = await call();
            counts.Add((step, await redis.CallsAsync("evalsha") - before));
            return result;
        }

        var first = (await Count("claim", () => store.TryClaimAsync(Request(key)).AsTask())).Lease!;
        await Count("renew", () => store.RenewAsync(first).AsTask());
        Assert.Equal(LeaseStatus.Ok, await Count("recovery point", () => store.SetRecoveryPointAsync(first, "payment_created").AsTask()));
        Assert.Equal(LeaseStatus.Ok, await Count("release at the point", () => store.ReleaseAsync(first).AsTask()));
        var takeover = (await Count("takeover", () => store.TryClaimAsync(Request(key)).AsTask())).Lease!;
        await Count("complete", () => store.CompleteAsync(takeover, Response()).AsTask());
        await Count("replay", () => store.TryClaimAsync(Request(key)).AsTask());
        await Count("get", () => store.GetAsync(key).AsTask());

        Assert.Equal("payment_created", takeover.RecoveryPoint);
        Assert.Equal(
            [("claim", 1L), ("renew", 1L), ("recovery point", 1L), ("release at the point", 1L), ("takeover", 1L), ("complete", 1L), ("replay", 1L), ("get", 1L)],
            counts);
        Assert.Equal(0, await redis.CallsAsync("eval"));
    }

    [Fact]
    public async Task Http_FirstExecutionIsTwoRoundTripsAndReplayOne()
    {
        await using var redis = await PrivateRedis.StartAsync();
        await using var app = await OrdersApp.StartAsync(redis.Configuration, RedisServer.NewPrefix());
        Assert.Equal(HttpStatusCode.Created, (await app.PostAsync(Guid.NewGuid().ToString())).Status);
        await redis.CommandAsync("CONFIG", "RESETSTAT");

        var key = Guid.NewGuid().ToString();
        var first = await app.PostAsync(key);
        var afterFirst = await redis.CallsAsync("evalsha");
        var replay = await app.PostAsync(key);
        var afterReplay = await redis.CallsAsync("evalsha");

        Assert.Equal((HttpStatusCode.Created, false), (first.Status, first.Replayed));
        Assert.Equal((HttpStatusCode.Created, true, first.Body), (replay.Status, replay.Replayed, replay.Body));
        Assert.Equal((2, 3), (afterFirst, afterReplay));
        Assert.Equal(0, await redis.CallsAsync("eval"));
    }

    [Fact]
    public async Task Store_ScriptCacheFlushed_SendsTheScriptOnceAndCarriesOn()
    {
        await using var redis = await PrivateRedis.StartAsync();
        await using var provider = CreateStore(redis, out var store);
        await FirstExecutionAsync(store, NewStoreKey());
        await redis.CommandAsync("SCRIPT", "FLUSH");
        await redis.CommandAsync("CONFIG", "RESETSTAT");

        var key = NewStoreKey();
        var claim = await store.TryClaimAsync(Request(key));
        var again = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, claim.Outcome);
        Assert.Equal(ClaimOutcome.InProgress, again.Outcome);

        // The first EVALSHA met NOSCRIPT and ran nothing; one EVAL ran the claim and cached the script; EVALSHA after.
        Assert.Equal(1, await redis.CallsAsync("eval"));
        Assert.Equal(2, await redis.CallsAsync("evalsha"));
    }

    private static ServiceProvider CreateStore(PrivateRedis redis, out IIdempotencyStore store)
    {
        var provider = new TestBuilder(new ServiceCollection()).AddRedisStore(redis.Configuration, o => o.KeyPrefix = RedisServer.NewPrefix()).Services.BuildServiceProvider();
        store = provider.GetRequiredService<IIdempotencyStore>();
        return provider;
    }

    private static async Task FirstExecutionAsync(IIdempotencyStore store, string key)
    {
        var claim = await store.TryClaimAsync(Request(key));
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(claim.Lease!, Response()));
        Assert.Equal(ClaimOutcome.Completed, (await store.TryClaimAsync(Request(key))).Outcome);
    }

    private static ClaimRequest Request(string key) => new(key, Fingerprint, TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));

    private static IdempotencyResponse Response() => new(201, [new("Content-Type", "application/json")], "{\"id\":1}"u8.ToArray());

    private static string NewStoreKey() => StoreKey.Create("tenant|1", "POST", "/v1/orders", Guid.NewGuid().ToString("N"));
}
