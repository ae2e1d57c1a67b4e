using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>
/// An upstream that never answers, or drops the connection after it had the request: the gateway cannot know whether it
/// did the work, so it answers 5xx in bounded time, never sends the request again by itself, and keeps the key held
/// until its lease ends (docs/gateway.md, "The unknown outcome").
/// </summary>
[Collection(ProcessTests.Name)]
public sealed class UnknownOutcomeTests : IAsyncLifetime
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(6);
    private static readonly TimeSpan ActivityTimeout = TimeSpan.FromSeconds(2);

    private Upstream _upstream = null!;
    private GatewayNode _gateway = null!;

    public async Task InitializeAsync()
    {
        _upstream = await Upstream.StartAsync();
        _gateway = await GatewayNode.StartAsync(new GatewaySetup { Upstream = _upstream.Address, Lease = Lease, ActivityTimeout = ActivityTimeout });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Fact]
    public async Task Post_UpstreamHangs_504InBoundedTime_409WhileHeld_ThenForwardedWithTheSameKey()
    {
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        var clock = Stopwatch.StartNew();

        var first = await _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
        var elapsed = clock.Elapsed;
        var whileHeld = await _gateway.Http.PostAsync("/orders/new", key);
        var receivedWhileHeld = await _upstream.StatsAsync(key);

        // The upstream finishes the work it was given; its answer has nowhere to go.
        await _upstream.ReleaseAsync(hold);
        var (afterLease, retries) = await _gateway.Http.PostWhileHeldAsync("/orders/new", key, Lease);
        var replay = await _gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(504, first.Status);
        Assert.Equal("urn:idem:problem:upstream-outcome-unknown", first.ProblemType);
        Assert.Equal("6", first.RetryAfter);
        Assert.InRange(elapsed, ActivityTimeout - TimeSpan.FromMilliseconds(200), ActivityTimeout + TimeSpan.FromSeconds(8));
        Assert.Equal(409, whileHeld.Status);
        Assert.Equal("urn:idem:problem:request-in-progress", whileHeld.ProblemType);
        Assert.Equal((1, 0), receivedWhileHeld);

        // After the lease the client's retry is forwarded with the same key; the upstream, which dedups by it, answers
        // with what it did the first time. That answer is stored and replayed from then on.
        Assert.True(retries > 0, "no retry met the held key");
        Assert.Equal(201, afterLease.Status);
        Assert.False(afterLease.Replayed);
        Assert.Equal((2, 1), await _upstream.StatsAsync(key));
        Assert.True(replay.Replayed);
        Assert.Equal(afterLease.Body, replay.Body);
        Assert.Equal((2, 1), await _upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_UpstreamDropsTheConnectionAfterTheRequest_503AndTheKeyStaysHeld()
    {
        var key = Requests.NewKey();

        var first = await _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Drop", "1"));
        var retry = await _gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(503, first.Status);
        Assert.Equal("urn:idem:problem:upstream-outcome-unknown", first.ProblemType);
        Assert.Equal("6", first.RetryAfter);
        Assert.Equal(409, retry.Status);
        Assert.Equal((1, 0), await _upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_UpstreamAnswerBreaksOffMidBody_503AndTheKeyStaysHeld()
    {
        var key = Requests.NewKey();

        // A small answer is held until stored, so nothing of it has reached the client when it breaks off.
        var first = await _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Truncate", "1"));
        var retry = await _gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(503, first.Status);
        Assert.Equal("urn:idem:problem:upstream-outcome-unknown", first.ProblemType);
        Assert.Equal(409, retry.Status);
        Assert.Equal((1, 0), await _upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_ClientHangsUpWhileForwarded_KeyStaysHeld()
    {
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        using var gone = new CancellationTokenSource();

        var first = _gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold), cancellationToken: gone.Token);
        await _upstream.WaitForReceivedAsync(key, 1);
        await gone.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => first);
        await Task.Delay(TimeSpan.FromMilliseconds(500));
        var retry = await _gateway.Http.PostAsync("/orders/new", key);
        await _upstream.ReleaseAsync(hold);

        // The upstream had the request: the gateway cannot know what it did, so the key is held, not released.
        Assert.Equal(409, retry.Status);
        Assert.Equal(1, (await _upstream.StatsAsync(key)).Received);
        Assert.DoesNotContain("fail:", _gateway.Process.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_UpstreamRefusesTheConnection_503AndTheKeyIsReleased()
    {
        await using var gateway = await GatewayNode.StartAsync(new GatewaySetup { Upstream = new Uri($"http://127.0.0.1:{ClosedPort()}/"), Lease = Lease });
        var key = Requests.NewKey();

        var first = await gateway.Http.PostAsync("/orders/new", key);
        var retry = await gateway.Http.PostAsync("/orders/new", key);

        Assert.Equal(503, first.Status);
        Assert.Equal("urn:idem:problem:upstream-unavailable", first.ProblemType);
        Assert.Equal("1", first.RetryAfter);

        // Released, not held: the retry is forwarded (and fails the same way) instead of getting 409.
        Assert.Equal(503, retry.Status);
        Assert.Equal("urn:idem:problem:upstream-unavailable", retry.ProblemType);
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
