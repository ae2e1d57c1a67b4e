using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client.Configuration;
using Idem.Grpc.Tests.Infrastructure;
using Idem.Grpc.Tests.Protos;

namespace Idem.Grpc.Tests;

public sealed class IdempotencyClientInterceptorTests
{
    [Fact]
    public async Task AsyncUnaryCall_ChannelRetryPolicy_SendsOneKeyOnEveryAttempt()
    {
        var keys = new ConcurrentQueue<string?>();
        await using var app = await CreateSut(keys, failFirst: 2);
        var client = app.CreateClient(Retry(StatusCode.Unavailable), new IdempotencyClientInterceptor());

        var order = await client.CreateAsync(Calls.Request());

        Assert.Equal(3, keys.Count);
        var key = Assert.Single(keys.Distinct());
        Assert.False(string.IsNullOrEmpty(key));
        Assert.Equal(3, order.Run);
    }

    [Fact]
    public async Task AsyncUnaryCall_TwoLogicalCalls_GetTwoKeys()
    {
        var keys = new ConcurrentQueue<string?>();
        await using var app = await CreateSut(keys);
        var client = app.CreateClient(interceptors: new IdempotencyClientInterceptor());

        await client.CreateAsync(Calls.Request());
        await client.CreateAsync(Calls.Request());

        Assert.Equal(2, keys.Distinct().Count());
    }

    [Fact]
    public async Task AsyncUnaryCall_CallerSetKey_SendsTheCallersKey()
    {
        var keys = new ConcurrentQueue<string?>();
        await using var app = await CreateSut(keys);
        var client = app.CreateClient(interceptors: new IdempotencyClientInterceptor());

        await client.CreateAsync(Calls.Request(), Calls.Key("mine-1"));

        Assert.Equal(["mine-1"], keys);
    }

    [Fact]
    public async Task AsyncUnaryCall_CallerLoopReusesMetadata_SendsOneKeyAndGetsTheReplay()
    {
        var keys = new ConcurrentQueue<string?>();
        await using var app = await CreateSut(keys);
        var client = app.CreateClient(interceptors: new IdempotencyClientInterceptor());
        var headers = new Metadata();

        var first = await client.CreateAsync(Calls.Request(), headers);
        using var retry = client.CreateAsync(Calls.Request(), headers);
        var second = await retry.ResponseAsync;

        Assert.Equal(first, second);
        Assert.Equal("true", retry.GetTrailers().GetValue(IdempotencyMetadataKeys.Replayed));
        Assert.Single(keys);
        Assert.Equal(keys.Single(), headers.GetValue(IdempotencyMetadataKeys.Key));
    }

    [Fact]
    public async Task BlockingUnaryCall_NoKey_SendsAKey()
    {
        var keys = new ConcurrentQueue<string?>();
        await using var app = await CreateSut(keys);
        var client = app.CreateClient(interceptors: new IdempotencyClientInterceptor(() => "fixed-key"));

        await Task.Run(() => client.Create(Calls.Request()));

        Assert.Equal(["fixed-key"], keys);
    }

    private static Task<GrpcTestApp> CreateSut(ConcurrentQueue<string?> keys, int failFirst = 0)
    {
        var attempts = 0;
        return GrpcTestApp.StartAsync((request, context) =>
        {
            keys.Enqueue(context.RequestHeaders.GetValue(IdempotencyMetadataKeys.Key));

            // Unavailable releases the key on the server, so the next attempt of the same call runs again.
            var attempt = Interlocked.Increment(ref attempts);
            return attempt <= failFirst
                ? throw new RpcException(new Status(StatusCode.Unavailable, "not yet"))
                : Task.FromResult(new Order { Id = $"ord_{attempt}", Item = request.Item, Amount = request.Amount, Run = attempt });
        });
    }

    private static RetryPolicy Retry(params StatusCode[] codes)
    {
        var policy = new RetryPolicy
        {
            MaxAttempts = 5,
            InitialBackoff = TimeSpan.FromMilliseconds(10),
            MaxBackoff = TimeSpan.FromMilliseconds(50),
            BackoffMultiplier = 2,
        };
        foreach (var code in codes)
        {
            policy.RetryableStatusCodes.Add(code);
        }

        return policy;
    }
}
