using Google.Protobuf;
using Grpc.Core;
using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Grpc.Tests.Infrastructure;
using Idem.Grpc.Tests.Protos;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Idem.Grpc.Tests;

public sealed class IdempotencyServerInterceptorTests
{
    private const int Callers = 50;

    [Fact]
    public async Task Create_FiftyParallelCallsWithOneKey_RunsHandlerOnceAndAbortsTheOthers()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        await using var app = await CreateSut(async (request, _) =>
        {
            var run = Interlocked.Increment(ref runs);
            entered.TrySetResult();
            await gate.Task;
            return Order(request, run);
        });

        var calls = Enumerable.Range(0, Callers).Select(_ => Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")))).ToList();
        await entered.Task.WaitAsync(TimeSpan.FromSeconds(30));

        // Everyone but the holder is answered while it still holds the key.
        await WhenAsync(() => calls.Count(c => c.IsCompleted) == Callers - 1);
        var refused = calls.Where(c => c.IsCompleted).Select(c => c.Result).ToList();
        Assert.All(refused, a =>
        {
            Assert.Equal(StatusCode.Aborted, a.Status);
            Assert.Contains("safe", a.Detail, StringComparison.Ordinal);
            Assert.Equal("1000", a.Trailer(IdempotencyMetadataKeys.RetryAfter));
        });

        gate.SetResult();
        var answers = await Task.WhenAll(calls);
        var winner = Assert.Single(answers, a => a.Status == StatusCode.OK);
        Assert.Equal(1, Volatile.Read(ref runs));

        var replay = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        Assert.Equal(winner.Order, replay.Order);
        Assert.Equal(1, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task CreateWaiting_FiftyParallelCallsWithOneKey_WaitAndGetTheOneAnswer()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var runs = 0;
        RecordingStore? store = null;
        await using var app = await CreateSut(
            async (request, _) =>
            {
                var run = Interlocked.Increment(ref runs);
                await gate.Task;
                return Order(request, run);
            },
            services: s => s.Replace(ServiceDescriptor.Singleton<IIdempotencyStore>(_ => store = new RecordingStore(new InMemoryIdempotencyStore()))));

        var calls = Enumerable.Range(0, Callers).Select(_ => Calls.AnswerAsync(app.Client.CreateWaitingAsync(Calls.Request(), Calls.Key("order-1")))).ToList();

        // Every other caller has found the key in progress and is waiting; nobody has been answered.
        await WhenAsync(() => store is not null);
        await store!.WhenAsync(s => s.Claims(ClaimOutcome.InProgress) >= Callers - 1);
        Assert.DoesNotContain(calls, c => c.IsCompleted);

        gate.SetResult();
        var answers = await Task.WhenAll(calls);
        Assert.All(answers, a => Assert.Equal(StatusCode.OK, a.Status));
        Assert.Single(answers.Select(a => a.Order).Distinct());
        Assert.Equal(Callers - 1, answers.Count(a => a.IsReplayed));
        Assert.Equal(1, Volatile.Read(ref runs));
    }

    [Fact]
    public async Task Create_RetryWithSameKey_ReplaysIdenticalMessageWithReplayMarker()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.Equal(first.Order, retry.Order);
        Assert.Equal(first.Order!.ToByteArray(), retry.Order!.ToByteArray());
        Assert.False(first.IsReplayed);
        Assert.Null(first.Headers!.GetValue(IdempotencyMetadataKeys.Replayed));
        Assert.True(retry.IsReplayed);
        Assert.Equal("true", retry.Headers!.GetValue(IdempotencyMetadataKeys.Replayed));
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Create_HandlerSetsTrailers_ReplayCarriesThem()
    {
        var runs = 0;
        await using var app = await CreateSut((request, context) =>
        {
            var run = Interlocked.Increment(ref runs);
            context.ResponseTrailers.Add("x-order-ref", "ref-" + run);
            context.ResponseTrailers.Add("x-receipt-bin", [1, 2, (byte)run]);
            return Task.FromResult(Order(request, run));
        });

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.True(retry.IsReplayed);
        Assert.Equal(1, runs);
        Assert.Equal("ref-1", first.Trailer("x-order-ref"));
        Assert.Equal("ref-1", retry.Trailer("x-order-ref"));
        Assert.Equal(new byte[] { 1, 2, 1 }, retry.Trailers.GetValueBytes("x-receipt-bin"));
        Assert.Single(retry.Trailers, t => t.Key == IdempotencyMetadataKeys.Replayed);
    }

    [Fact]
    public async Task Create_BusinessStatusWithTrailers_ReplayCarriesThem()
    {
        var runs = 0;
        await using var app = await CreateSut((_, _) =>
        {
            var run = Interlocked.Increment(ref runs);
            throw new RpcException(new Status(StatusCode.FailedPrecondition, "card declined"), new Metadata { { "x-decline-code", "insufficient_funds-" + run } });
        });

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal((StatusCode.FailedPrecondition, "card declined"), (retry.Status, retry.Detail));
        Assert.True(retry.IsReplayed);
        Assert.Equal(1, runs);
        Assert.Equal("insufficient_funds-1", first.Trailer("x-decline-code"));
        Assert.Equal("insufficient_funds-1", retry.Trailer("x-decline-code"));
    }

    [Fact]
    public async Task Create_SameKeyDifferentRequest_FailsPreconditionAndDoesNotRun()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(amount: 1200), Calls.Key("order-1")));
        var other = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(amount: 9999), Calls.Key("order-1")));

        Assert.Equal(StatusCode.FailedPrecondition, other.Status);
        Assert.Contains("Do not retry with this key", other.Detail, StringComparison.Ordinal);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Create_TwoPrincipalsSendOneKey_EachGetsTheirOwnAnswer()
    {
        var runs = 0;
        await using var app = await GrpcTestApp.StartAsync((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))), authenticate: true);

        var alice = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), As("alice", "order-1")));
        var bob = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), As("bob", "order-1")));
        var aliceAgain = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), As("alice", "order-1")));

        Assert.False(bob.IsReplayed);
        Assert.NotEqual(alice.Order, bob.Order);
        Assert.Equal(alice.Order, aliceAgain.Order);
        Assert.Equal(2, runs);

        static Metadata As(string user, string key)
        {
            var headers = Calls.Key(key);
            headers.Add(HeaderAuthenticationHandler.UserHeader.ToLowerInvariant(), user);
            return headers;
        }
    }

    [Fact]
    public async Task Create_SameKeyOnAnotherMethod_IsAnotherRecord()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        var create = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var waiting = await Calls.AnswerAsync(app.Client.CreateWaitingAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal(StatusCode.OK, waiting.Status);
        Assert.False(waiting.IsReplayed);
        Assert.NotEqual(create.Order, waiting.Order);
        Assert.Equal(2, runs);
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("quote\"inside")]
    [InlineData("")]
    public async Task Create_InvalidKey_InvalidArgumentAndDoesNotRun(string key)
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        var answer = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key(key)));

        Assert.Equal(StatusCode.InvalidArgument, answer.Status);
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task Create_KeyLongerThanLimit_InvalidArgument()
    {
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, 1)));

        var answer = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key(new string('k', 256))));

        Assert.Equal(StatusCode.InvalidArgument, answer.Status);
        Assert.Contains("longer", answer.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Create_TwoKeys_InvalidArgument()
    {
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, 1)));
        var headers = Calls.Key("a");
        headers.Add(IdempotencyMetadataKeys.Key, "b");

        var answer = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), headers));

        Assert.Equal(StatusCode.InvalidArgument, answer.Status);
    }

    [Fact]
    public async Task Create_MissingKey_InvalidArgumentAndDoesNotRun()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        var answer = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request()));

        Assert.Equal(StatusCode.InvalidArgument, answer.Status);
        Assert.Contains(IdempotencyMetadataKeys.Key, answer.Detail, StringComparison.Ordinal);
        Assert.Equal(0, runs);
    }

    [Fact]
    public async Task CreateOptional_NoKey_RunsEveryCallOnItsOwn()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        var first = await Calls.AnswerAsync(app.Client.CreateOptionalAsync(Calls.Request()));
        var second = await Calls.AnswerAsync(app.Client.CreateOptionalAsync(Calls.Request()));

        Assert.Equal(StatusCode.OK, second.Status);
        Assert.NotEqual(first.Order, second.Order);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task Plain_UnmarkedMethodWithKey_PassesThrough()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))));

        await Calls.AnswerAsync(app.Client.PlainAsync(Calls.Request(), Calls.Key("order-1")));
        var second = await Calls.AnswerAsync(app.Client.PlainAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.False(second.IsReplayed);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task Plain_ServiceMarkedThroughEndpointMetadata_Replays()
    {
        var runs = 0;
        await using var app = await GrpcTestApp.StartAsync(
            (request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))),
            map: endpoints => endpoints.WithMetadata(new IdempotentRpcAttribute()));

        var first = await Calls.AnswerAsync(app.Client.PlainAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.PlainAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Order, retry.Order);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task Create_StoreThrows_UnavailableAndDoesNotRun()
    {
        var runs = 0;
        var store = new UnreachableStore();
        await using var app = await CreateSut(
            (request, _) => Task.FromResult(Order(request, Interlocked.Increment(ref runs))),
            services: s => s.Replace(ServiceDescriptor.Singleton<IIdempotencyStore>(store)));

        var answer = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal(StatusCode.Unavailable, answer.Status);
        Assert.Contains("did not run", answer.Detail, StringComparison.Ordinal);
        Assert.Equal("1000", answer.Trailer(IdempotencyMetadataKeys.RetryAfter));
        Assert.Equal(0, runs);
        Assert.True(store.Calls > 0);
    }

    [Theory]
    [InlineData(StatusCode.NotFound)]
    [InlineData(StatusCode.InvalidArgument)]
    [InlineData(StatusCode.FailedPrecondition)]
    [InlineData(StatusCode.AlreadyExists)]
    [InlineData(StatusCode.PermissionDenied)]
    public async Task Create_HandlerAnswersBusinessStatus_StoresAndReplaysIt(StatusCode code)
    {
        var runs = 0;
        await using var app = await CreateSut((_, _) =>
        {
            Interlocked.Increment(ref runs);
            throw new RpcException(new Status(code, "no such item"));
        });

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal((code, "no such item"), (first.Status, first.Detail));
        Assert.Equal((code, "no such item"), (retry.Status, retry.Detail));
        Assert.False(first.IsReplayed);
        Assert.True(retry.IsReplayed);
        Assert.Equal(1, runs);
    }

    [Theory]
    [InlineData(StatusCode.Unavailable)]
    [InlineData(StatusCode.Internal)]
    [InlineData(StatusCode.Unknown)]
    [InlineData(StatusCode.DeadlineExceeded)]
    [InlineData(StatusCode.Aborted)]
    [InlineData(StatusCode.ResourceExhausted)]
    public async Task Create_HandlerFailsRetryably_ReleasesKeySoRetryRuns(StatusCode code)
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Interlocked.Increment(ref runs) == 1
            ? throw new RpcException(new Status(code, "try later"))
            : Task.FromResult(Order(request, runs)));

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal(code, first.Status);
        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task Create_HandlerThrowsOtherException_ReleasesKeySoRetryRuns()
    {
        var runs = 0;
        await using var app = await CreateSut((request, _) => Interlocked.Increment(ref runs) == 1
            ? throw new InvalidOperationException("bug")
            : Task.FromResult(Order(request, runs)));

        var first = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal(StatusCode.Unknown, first.Status);
        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.Equal(2, runs);
    }

    [Fact]
    public async Task Create_HandlerResolvesContext_SeesTheCallersKey()
    {
        string? seen = null;
        await using var app = await CreateSut((request, context) =>
        {
            seen = context.GetHttpContext().RequestServices.GetRequiredService<IIdempotencyContext>().Key;
            return Task.FromResult(Order(request, 1));
        });

        await Calls.AnswerAsync(app.Client.CreateAsync(Calls.Request(), Calls.Key("order-1")));

        Assert.Equal("order-1", seen);
    }

    internal static Task<GrpcTestApp> CreateSut(OrderHandler handler, Action<IIdempotencyBuilder>? store = null, Action<IServiceCollection>? services = null)
        => GrpcTestApp.StartAsync(handler, store, services);

    internal static Order Order(CreateOrderRequest request, int run)
        => new() { Id = $"ord_{Guid.NewGuid():N}", Item = request.Item, Amount = request.Amount, Run = run };

    /// <summary>Polls a condition the test cannot be told about (calls answered on the client), for at most 30 seconds.</summary>
    internal static async Task WhenAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "The condition did not hold within 30 seconds.");
            await Task.Delay(10);
        }
    }
}
