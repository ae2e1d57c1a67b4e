using System.Diagnostics;
using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>
/// A route with <c>Idempotency.AnswerTimeout</c>: a client whose upstream is slow gets 504 in that time, while the gateway
/// goes on waiting for the upstream's answer and stores it, so the retry is replayed and the upstream sees the request once
/// (docs/gateway.md, "The unknown outcome").
/// </summary>
[Collection(ProcessTests.Name)]
public sealed class LateAnswerTests : IAsyncLifetime
{
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);

    private Upstream _upstream = null!;
    private GatewayNode _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Upstream.StartAsync();
        _gateway = await GatewayNode.StartAsync(new GatewaySetup
        {
            Upstream = _upstream.Address,
            Lease = Lease,
            ActivityTimeout = TimeSpan.FromSeconds(60),
            Metadata = new Dictionary<string, string> { ["Idempotency.Required"] = "true", ["Idempotency.AnswerTimeout"] = "00:00:01" },
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Post_UpstreamSlowerThanTheAnswerTimeout_504Then409ThenItsLateAnswerReplayed_UpstreamReceivedItOnce()
    {
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        var clock = Stopwatch.StartNew();

        var first = await _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
        var elapsed = clock.Elapsed;
        var whileWaiting = await _gateway.Http.PostAsync("/orders/new", key);

        // The upstream finishes long after the client was answered; the gateway was still waiting for it.
        await _upstream.ReleaseAsync(hold);
        var (afterAnswer, held) = await _gateway.Http.PostWhileHeldAsync("/orders/new", key, Lease);
        var again = await _gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(504, first.Status);
        Assert.Equal("urn:idem:problem:upstream-outcome-unknown", first.ProblemType);
        Assert.Equal("1", first.RetryAfter);
        Assert.InRange(elapsed, AnswerTimeout - TimeSpan.FromMilliseconds(100), AnswerTimeout + TimeSpan.FromSeconds(4));
        Assert.Equal(409, whileWaiting.Status);
        Assert.Equal("urn:idem:problem:request-in-progress", whileWaiting.ProblemType);

        // Stored when it came, well before the lease would have ended: the retry is that answer, replayed.
        Assert.Equal(201, afterAnswer.Status);
        Assert.True(afterAnswer.Replayed, $"the retry was not a replay: {afterAnswer}");
        Assert.True(held < Lease.TotalMilliseconds / 250 / 2, $"the key stayed held for {held} retries after the upstream answered");
        Assert.Equal(afterAnswer.Body, again.Body);
        Assert.Equal((1, 1), await _upstream.StatsAsync(key));
        Assert.DoesNotContain("fail:", _gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_ClientHangsUpWhileForwarded_TheAnswerIsStillStoredAndReplayed()
    {
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        using var gone = new CancellationTokenSource();

        var first = _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold), cancellationToken: gone.Token);
        await _upstream.WaitForReceivedAsync(key, 1);
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await Task.Delay(TimeSpan.FromMilliseconds(300));
        await _upstream.ReleaseAsync(hold);
        var (retry, _) = await _gateway.Http.PostWhileHeldAsync("/orders/new", key, Lease);

        Assert.Equal(201, retry.Status);
        Assert.True(retry.Replayed, $"the retry was not a replay: {retry}");
        Assert.Equal((1, 1), await _upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_UpstreamAnswersInTime_TheClientGetsItAsUsual()
    {
        var key = Requests.NewKey();

        var first = await _gateway.Http.PostAsync("/orders/new", key);
        var replay = await _gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(201, first.Status);
        Assert.False(first.Replayed);
        Assert.True(replay.Replayed);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal((1, 1), await _upstream.StatsAsync(key));
    }
}
