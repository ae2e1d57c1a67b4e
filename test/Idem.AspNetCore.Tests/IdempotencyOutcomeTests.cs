using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace Idem.AspNetCore.Tests;

/// <summary>BEHAVIOUR §4 rows: in progress (409 or wait), expired, store unreachable (503 or fail open).</summary>
public sealed class IdempotencyOutcomeTests
{
    private readonly CallCounter _calls = new();
    private readonly Signal _started = new();
    private readonly Signal _release = new();

    private Task<TestApp> CreateSut(
        Action<IdempotencyPolicyBuilder>? policy = null,
        Action<IdempotencyOptions>? options = null,
        IIdempotencyStore? store = null,
        TimeProvider? time = null,
        Action<IdempotencyHttpOptions>? http = null)
        => TestApp.StartAsync(
            app =>
            {
                app.MapPost("/orders", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency(policy);
                app.MapPost("/slow", async () =>
                {
                    var call = _calls.Increment();
                    _started.Set();
                    await _release.WaitAsync();
                    return Results.Ok(new { call });
                }).RequireIdempotency(policy);
            },
            options,
            services: time is null ? null : s => s.AddSingleton(time),
            store: store is null ? null : b => b.UseStore(store),
            http: http);

    [Fact]
    public async Task Post_SameKeyWhileFirstStillRuns_Returns409WithRetryAfter()
    {
        await using var sut = await CreateSut();

        var first = sut.Client.PostAsync("/slow", "k-1");
        await _started.WaitAsync();
        var duplicate = await sut.Client.PostAsync("/slow", "k-1");
        _release.Set();
        var firstReply = await first;
        var after = await sut.Client.PostAsync("/slow", "k-1");

        Assert.Equal(409, duplicate.Status);
        Assert.Equal("1", duplicate.Header("Retry-After"));
        var problem = duplicate.Problem();
        Assert.Equal(IdempotencyProblemTypes.RequestInProgress, problem.Type);
        Assert.Equal(409, problem.Status);
        Assert.Contains("A retry with the same key is safe", problem.Detail, StringComparison.Ordinal);
        Assert.Equal(200, firstReply.Status);
        Assert.True(after.IsReplayed);
        Assert.Equal(firstReply.Body, after.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_ConfiguredRetryAfter_IsSentWith409()
    {
        await using var sut = await CreateSut(http: o => o.RetryAfter = TimeSpan.FromSeconds(7));

        var first = sut.Client.PostAsync("/slow", "k-1");
        await _started.WaitAsync();
        var duplicate = await sut.Client.PostAsync("/slow", "k-1");
        _release.Set();
        await first;

        Assert.Equal(409, duplicate.Status);
        Assert.Equal("7", duplicate.Header("Retry-After"));
    }

    [Fact]
    public async Task Post_WaitForConcurrent_DuplicateWaitsThenReplays()
    {
        var store = new RecordingStore(new InMemoryIdempotencyStore());
        await using var sut = await CreateSut(policy: p => p.WaitForConcurrent(TimeSpan.FromSeconds(30)), store: store);

        var first = sut.Client.PostAsync("/slow", "k-1");
        await _started.WaitAsync();
        var duplicate = sut.Client.PostAsync("/slow", "k-1");
        await store.WhenAsync(s => s.Claims(ClaimOutcome.InProgress) >= 1);
        Assert.False(duplicate.IsCompleted);
        _release.Set();
        var firstReply = await first;
        var duplicateReply = await duplicate;

        Assert.Equal(200, duplicateReply.Status);
        Assert.True(duplicateReply.IsReplayed);
        Assert.Equal(firstReply.Body, duplicateReply.Body);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_WaitForConcurrentTimesOut_Returns409()
    {
        await using var sut = await CreateSut(policy: p => p.WaitForConcurrent(TimeSpan.Zero));

        var first = sut.Client.PostAsync("/slow", "k-1");
        await _started.WaitAsync();
        var duplicate = await sut.Client.PostAsync("/slow", "k-1");
        _release.Set();
        await first;

        Assert.Equal(409, duplicate.Status);
        Assert.Equal(IdempotencyProblemTypes.RequestInProgress, duplicate.Problem().Type);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_KeyPastRetention_RunsAgain()
    {
        var time = new FakeTimeProvider(DateTimeOffset.Parse("2026-01-01T00:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        await using var sut = await CreateSut(time: time);

        var first = await sut.Client.PostAsync("/orders", "k-1");
        time.Advance(TimeSpan.FromHours(23));
        var withinRetention = await sut.Client.PostAsync("/orders", "k-1");
        time.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var pastRetention = await sut.Client.PostAsync("/orders", "k-1");
        var replayOfNew = await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal("""{"call":1}""", first.Text);
        Assert.True(withinRetention.IsReplayed);
        Assert.Equal(200, pastRetention.Status);
        Assert.False(pastRetention.IsReplayed);
        Assert.Equal("""{"call":2}""", pastRetention.Text);
        Assert.True(replayOfNew.IsReplayed);
        Assert.Equal("""{"call":2}""", replayOfNew.Text);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_EndpointRetention_OverridesOptions()
    {
        var time = new FakeTimeProvider();
        await using var sut = await CreateSut(policy: p => p.Retention(TimeSpan.FromMinutes(10)), time: time);

        await sut.Client.PostAsync("/orders", "k-1");
        time.Advance(TimeSpan.FromMinutes(9));
        var within = await sut.Client.PostAsync("/orders", "k-1");
        time.Advance(TimeSpan.FromMinutes(2));
        var past = await sut.Client.PostAsync("/orders", "k-1");

        Assert.True(within.IsReplayed);
        Assert.False(past.IsReplayed);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_StoreUnreachable_Returns503AndHandlerDoesNotRun()
    {
        var store = new UnreachableStore();
        await using var sut = await CreateSut(store: store);

        var reply = await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal(503, reply.Status);
        Assert.Equal("1", reply.Header("Retry-After"));
        var problem = reply.Problem();
        Assert.Equal(IdempotencyProblemTypes.StoreUnavailable, problem.Type);
        Assert.Equal(503, problem.Status);
        Assert.Contains("did not run", problem.Detail, StringComparison.Ordinal);
        Assert.Contains("A retry with the same key is safe", problem.Detail, StringComparison.Ordinal);
        Assert.True(store.Calls >= 1);
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_StoreUnreachableWithFailOpen_RunsHandlerEveryTime()
    {
        await using var sut = await CreateSut(policy: p => p.FailOpen(), store: new UnreachableStore());

        var first = await sut.Client.PostAsync("/orders", "k-1");
        var second = await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal(200, first.Status);
        Assert.Equal(200, second.Status);
        Assert.False(second.IsReplayed);
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_StoreUnreachableWithFailOpenInOptions_RunsHandler()
    {
        await using var sut = await CreateSut(options: o => o.StoreFailure = StoreFailureHandling.FailOpen, store: new UnreachableStore());

        var reply = await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal(200, reply.Status);
        Assert.Equal(1, _calls.Count);
    }
}
