using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>Many identical requests at once: the handler runs exactly once (in-memory store).</summary>
public sealed class IdempotencyConcurrencyTests
{
    private const int Requests = 50;
    private const int Rounds = 5;

    private readonly CallCounter _calls = new();

    private Task<TestApp> CreateSut(Action<IdempotencyPolicyBuilder>? policy = null)
        => TestApp.StartAsync(app => app.MapPost("/transfers", async () =>
        {
            var call = _calls.Increment();
            await Task.Yield();
            return Results.Created($"/transfers/{call}", new { call, id = Guid.NewGuid() });
        }).RequireIdempotency(policy));

    [Fact]
    public async Task Post_ParallelIdenticalRequests_RunHandlerExactlyOncePerKey()
    {
        await using var sut = await CreateSut();

        for (var round = 1; round <= Rounds; round++)
        {
            var key = $"burst-{round}";
            var replies = await ParallelBurst.SendAsync(Requests, () => sut.Client.PostAsync("/transfers", key, """{"amount":10}"""));

            ParallelBurst.AssertExactlyOnce(replies);
            Assert.Equal(round, _calls.Count);
        }
    }

    [Fact]
    public async Task Post_ParallelIdenticalRequestsWaitingForConcurrent_AllGetTheOneResult()
    {
        await using var sut = await CreateSut(p => p.WaitForConcurrent(TimeSpan.FromSeconds(30)));

        for (var round = 1; round <= Rounds; round++)
        {
            var key = $"burst-{round}";
            var replies = await ParallelBurst.SendAsync(Requests, () => sut.Client.PostAsync("/transfers", key, """{"amount":10}"""));

            Assert.Equal(Requests - 1, ParallelBurst.AssertExactlyOnce(replies, allowConflicts: false));
            Assert.Equal(round, _calls.Count);
        }
    }

    [Fact]
    public async Task Post_ParallelRequestsWithDistinctKeys_EachRunsOnce()
    {
        await using var sut = await CreateSut();
        var next = 0;

        var replies = await ParallelBurst.SendAsync(Requests, () => sut.Client.PostAsync("/transfers", $"distinct-{Interlocked.Increment(ref next)}", """{"amount":10}"""));

        Assert.All(replies, r => Assert.Equal(201, r.Status));
        Assert.All(replies, r => Assert.False(r.IsReplayed));
        Assert.Equal(Requests, _calls.Count);
        Assert.Equal(Requests, replies.Select(r => r.Header("Location")).Distinct().Count());
    }
}
