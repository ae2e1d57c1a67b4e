using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>One upstream in Python, one gateway on the in-memory store in front of it, shared by the tests of the class.</summary>
public sealed class PythonUpstreamFixture : IAsyncLifetime
{
    internal Upstream Upstream { get; private set; } = null!;

    internal GatewayNode Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Upstream = await Upstream.StartAsync();
        Gateway = await GatewayNode.StartAsync(new GatewaySetup { Upstream = Upstream.Address });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Upstream.DisposeAsync();
    }
}

/// <summary>The contract of BEHAVIOUR.md, kept by the gateway for a service written in another language.</summary>
[Collection(ProcessTests.Name)]
public sealed class PythonUpstreamTests(PythonUpstreamFixture fixture) : IClassFixture<PythonUpstreamFixture>
{
    private HttpClient Gateway => fixture.Gateway.Http;

    private Upstream Upstream => fixture.Upstream;

    [Fact]
    public async Task Post_LargeBinaryBody_ForwardedWholeFromTheSpool_AndReplayed()
    {
        var key = Requests.NewKey();
        var body = new byte[3 * 1024 * 1024 + 5];
        new Random(5).NextBytes(body);

        var first = await SendBytesAsync(key, body);
        var replay = await SendBytesAsync(key, body);
        body[^1] ^= 1;
        var changed = await SendBytesAsync(key, body);

        // The gateway hashed the body as it spooled it past its first 64 KiB, then forwarded every byte from the spool.
        Assert.Equal(201, first.Status);
        body[^1] ^= 1;
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(body)),
            System.Text.Json.JsonDocument.Parse(first.Body).RootElement.GetProperty("body_sha256").GetString());
        Assert.True(replay.Replayed);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal(422, changed.Status);
        Assert.Equal((1, 1), await Upstream.StatsAsync(key));
    }

    private Task<Reply> SendBytesAsync(string key, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders/upload") { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
        request.Headers.TryAddWithoutValidation("Idempotency-Key", key);
        return Gateway.SendReadAsync(request);
    }

    [Fact]
    public async Task Post_FiftyParallelRequestsWithOneKey_ReachTheUpstreamOnce()
    {
        const int Count = 50;
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        var answered = 0;
        var allButFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // The first request to claim the key is held at the upstream until every other one has had its answer: they all
        // met it in flight.
        var burst = Requests.BurstAsync(Count, async _ =>
        {
            var reply = await Gateway.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
            if (Interlocked.Increment(ref answered) == Count - 1)
            {
                allButFirst.TrySetResult();
            }

            return reply;
        });
        await allButFirst.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await Upstream.WaitForReceivedAsync(key, 1);
        var whileHeld = await Upstream.StatsAsync(key);
        await Upstream.ReleaseAsync(hold);
        var replies = await burst.WaitAsync(TimeSpan.FromSeconds(60));
        var retry = await Gateway.PostAsync("/orders/new", key);

        Assert.Equal((1, 0), whileHeld);
        var created = Assert.Single(replies, r => r.Status == 201);
        Assert.False(created.Replayed);
        Assert.All(replies.Where(r => r.Status != 201), r =>
        {
            Assert.Equal(409, r.Status);
            Assert.Equal("urn:idem:problem:request-in-progress", r.ProblemType);
        });
        Assert.Equal(201, retry.Status);
        Assert.True(retry.Replayed);
        Assert.Equal(created.Body, retry.Body);
        Assert.Equal((1, 1), await Upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_SameKeyOtherBody_Is422AndNeverReachesTheUpstream()
    {
        var key = Requests.NewKey();

        var first = await Gateway.PostAsync("/orders/new", key, """{"amount":100}""");
        var other = await Gateway.PostAsync("/orders/new", key, """{"amount":999}""");

        Assert.Equal(201, first.Status);
        Assert.Equal(422, other.Status);
        Assert.Equal("urn:idem:problem:idempotency-key-mismatch", other.ProblemType);
        Assert.Contains("amount", other.Text, StringComparison.Ordinal);
        Assert.Equal((1, 1), await Upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_TwoCallersWithOneKey_GetSeparateRecords()
    {
        var key = Requests.NewKey();

        var alice = await Gateway.PostAsync("/orders/new", key, caller: "Bearer alice-secret");
        var bob = await Gateway.PostAsync("/orders/new", key, caller: "Bearer bob-secret");
        var aliceAgain = await Gateway.PostAsync("/orders/new", key, caller: "Bearer alice-secret");
        var bobAgain = await Gateway.PostAsync("/orders/new", key, caller: "Bearer bob-secret");

        Assert.Equal(201, alice.Status);
        Assert.Equal(201, bob.Status);
        Assert.False(bob.Replayed);
        Assert.NotEqual(alice.Location, bob.Location);
        Assert.True(aliceAgain.Replayed);
        Assert.Equal(alice.Body, aliceAgain.Body);
        Assert.True(bobAgain.Replayed);
        Assert.Equal(bob.Body, bobAgain.Body);
        Assert.Equal((2, 2), await Upstream.StatsAsync(key));
    }

    [Theory]
    [InlineData(null, null)]
    [InlineData("402", null)]
    [InlineData(null, "100000")]
    public async Task Post_Retry_IsReplayedExactlyWithoutReachingTheUpstream(string? status, string? bodySize)
    {
        var key = Requests.NewKey();
        void Steer(HttpRequestMessage request)
        {
            if (status is not null)
            {
                request.Headers.Add("X-Status", status);
            }

            if (bodySize is not null)
            {
                request.Headers.Add("X-Body-Size", bodySize);
            }
        }

        var first = await Gateway.PostAsync("/orders/new", key, configure: Steer);
        var replays = await Task.WhenAll(Enumerable.Range(0, 5).Select(_ => Gateway.PostAsync("/orders/new", key, configure: Steer)));

        Assert.Equal(status is null ? 201 : int.Parse(status, System.Globalization.CultureInfo.InvariantCulture), first.Status);
        Assert.False(first.Replayed);
        Assert.NotNull(first.Location);
        Assert.Equal(bodySize is null ? 0 : int.Parse(bodySize, System.Globalization.CultureInfo.InvariantCulture), bodySize is null ? 0 : first.Body.Length);
        Assert.All(replays, replay =>
        {
            Assert.True(replay.Replayed);
            Assert.Equal(first.Status, replay.Status);
            Assert.Equal(first.Body, replay.Body);
            Assert.Equal(first.Location, replay.Location);
            Assert.Equal(first.ContentType, replay.ContentType);
        });
        Assert.Equal((1, 1), await Upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_KeyMissingOnARouteThatRequiresOne_Is400AndNeverReachesTheUpstream()
    {
        var before = await Upstream.StatsAsync();

        var reply = await Gateway.PostAsync("/orders/new", key: null);

        Assert.Equal(400, reply.Status);
        Assert.Equal("urn:idem:problem:idempotency-key-missing", reply.ProblemType);
        Assert.Equal(before, await Upstream.StatsAsync());
    }

    [Theory]
    [InlineData("a,b")]
    [InlineData("\"unterminated")]
    [InlineData("")]
    public async Task Post_InvalidKey_Is400ProblemAndNeverReachesTheUpstream(string key)
    {
        var before = await Upstream.StatsAsync();

        var reply = await Gateway.PostAsync("/orders/new", key);
        var tooLong = await Gateway.PostAsync("/orders/new", new string('k', 256));

        Assert.Equal(400, reply.Status);
        Assert.Equal("urn:idem:problem:idempotency-key-invalid", reply.ProblemType);
        Assert.Equal(400, tooLong.Status);
        Assert.Equal("urn:idem:problem:idempotency-key-invalid", tooLong.ProblemType);
        Assert.Equal(before, await Upstream.StatsAsync());
    }

    [Fact]
    public async Task Post_KeyWithByteBeyondAscii_Is400Problem()
    {
        // HttpClient refuses to send such a value; the byte 0xE9 goes on the wire as it is.
        var reply = await Idem.Testing.RawHttp.SendAsync(fixture.Gateway.Process.BaseAddress, "POST", "/orders/new", [("Idempotency-Key", "caf\u00e9")]);

        Assert.Equal(400, reply.Status);
        Assert.Contains("urn:idem:problem:idempotency-key-invalid", reply.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_ForwardsTheClientsKeyUnchanged()
    {
        var key = "\"quoted-" + Guid.NewGuid().ToString("N") + "\"";

        var reply = await Gateway.PostAsync("/orders/new", key);

        Assert.Equal(201, reply.Status);
        Assert.Contains($"\"key\":\"\\\"quoted-", reply.Text, StringComparison.Ordinal);
        Assert.Equal((1, 1), await Upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Get_IsNotGuarded_AndReachesTheUpstreamEveryTime()
    {
        var key = Requests.NewKey();

        var first = await Gateway.SendReadAsync(new HttpRequestMessage(HttpMethod.Get, "/orders/1") { Headers = { { "Idempotency-Key", key } } });
        var second = await Gateway.SendReadAsync(new HttpRequestMessage(HttpMethod.Get, "/orders/1") { Headers = { { "Idempotency-Key", key } } });

        Assert.False(second.Replayed);
        Assert.Equal(2, (await Upstream.StatsAsync(key)).Received);
        Assert.Equal(first.Status, second.Status);
    }

    [Fact]
    public async Task Healthz_StoreAnswers_IsHealthy()
    {
        var reply = await Gateway.SendReadAsync(new HttpRequestMessage(HttpMethod.Get, "/healthz"));

        Assert.Equal(200, reply.Status);
        Assert.Equal("Healthy", reply.Text);
    }
}
