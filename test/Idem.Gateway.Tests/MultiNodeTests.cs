using System.Diagnostics;
using Idem.Gateway.Tests.Infrastructure;
using Idem.Payments.Tests.Infrastructure;
using Idem.Redis.Tests;

namespace Idem.Gateway.Tests;

/// <summary>Which shared store two gateway nodes use.</summary>
public enum SharedStore
{
    Redis,
    Postgres,
}

/// <summary>
/// Two gateway processes on one Redis or one PostgreSQL (the real servers of IDEM_TEST_REDIS and IDEM_TEST_POSTGRES; a
/// missing one fails these tests, it never skips them), in front of one upstream that counts what it receives.
/// </summary>
[Collection(ProcessTests.Name)]
[Trait("Category", "Redis")]
[Trait("Category", "Postgres")]
public sealed class MultiNodeTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(120);

    [Theory]
    [InlineData(SharedStore.Redis)]
    [InlineData(SharedStore.Postgres)]
    public async Task Post_HundredParallelRequestsWithOneKeySplitAcrossTwoNodes_ReachTheUpstreamOnce(SharedStore store)
    {
        const int Count = 100;
        await using var cluster = await Cluster.StartAsync(store, TimeSpan.FromSeconds(30));
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        var answered = 0;
        var allButFirst = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // Even requests go to node A, odd ones to node B. The first to claim the key is held at the upstream until every
        // other one has had its answer, so each of them met it in flight, on either node.
        var burst = Requests.BurstAsync(Count, async i =>
        {
            var node = i % 2 == 0 ? cluster.A : cluster.B;
            var reply = await node.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
            if (Interlocked.Increment(ref answered) == Count - 1)
            {
                allButFirst.TrySetResult();
            }

            return (Node: i % 2, Reply: reply);
        });
        await allButFirst.Task.WaitAsync(Patience);
        await cluster.Upstream.WaitForReceivedAsync(key, 1);
        var whileHeld = await cluster.Upstream.StatsAsync(key);
        await cluster.Upstream.ReleaseAsync(hold);
        var replies = await burst.WaitAsync(Patience);
        var replayA = await cluster.A.Http.PostAsync("/orders/new", key);
        var replayB = await cluster.B.Http.PostAsync("/orders/new", key);

        Assert.Equal((1, 0), whileHeld);
        var created = Assert.Single(replies, r => r.Reply.Status == 201).Reply;
        var conflicts = replies.Where(r => r.Reply.Status == 409).ToArray();
        Assert.Equal(Count - 1, conflicts.Length);
        Assert.Contains(conflicts, r => r.Node == 0);
        Assert.Contains(conflicts, r => r.Node == 1);
        Assert.All(new[] { replayA, replayB }, replay =>
        {
            Assert.True(replay.Replayed);
            Assert.Equal(created.Body, replay.Body);
            Assert.Equal(created.Location, replay.Location);
        });
        Assert.Equal((1, 1), await cluster.Upstream.StatsAsync(key));
    }

    [Theory]
    [InlineData(SharedStore.Redis)]
    [InlineData(SharedStore.Postgres)]
    public async Task Post_NodeKilledMidRequest_RetryOnTheOtherNodeNeverRunsTheRequestTwice(SharedStore store)
    {
        var lease = TimeSpan.FromSeconds(5);
        await using var cluster = await Cluster.StartAsync(store, lease);

        // Keys node A answered before it died: node B replays them.
        var done = Enumerable.Range(0, 5).Select(_ => Requests.NewKey()).ToArray();
        var answers = new Dictionary<string, Reply>();
        foreach (var doneKey in done)
        {
            answers[doneKey] = await cluster.A.Http.PostAsync("/orders/new", doneKey);
        }

        // The key node A holds when it dies: its request is at the upstream, held there.
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        var inFlight = cluster.A.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
        await cluster.Upstream.WaitForReceivedAsync(key, 1);
        await cluster.A.KillAsync();
        await Assert.ThrowsAsync<HttpRequestException>(() => inFlight);
        var whileHeld = await cluster.B.Http.PostAsync("/orders/new", key);
        var receivedWhileHeld = await cluster.Upstream.StatsAsync(key);

        // The upstream finishes the killed node's request; then the client retries on B until the dead node's lease ends.
        await cluster.Upstream.ReleaseAsync(hold);
        var clock = Stopwatch.StartNew();
        Reply retry;
        while ((retry = await cluster.B.Http.PostAsync("/orders/new", key)).Status == 409)
        {
            Assert.True(clock.Elapsed < lease * 3, "the dead node's key was held long after its lease");
            await Task.Delay(250);
        }

        var replay = await cluster.B.Http.PostAsync("/orders/new", key);

        foreach (var doneKey in done)
        {
            var again = await cluster.B.Http.PostAsync("/orders/new", doneKey);
            Assert.True(again.Replayed);
            Assert.Equal(answers[doneKey].Body, again.Body);
            Assert.Equal((1, 1), await cluster.Upstream.StatsAsync(doneKey));
        }

        Assert.Equal(409, whileHeld.Status);
        Assert.Equal((1, 0), receivedWhileHeld);

        // After the lease the retry is forwarded once more, with the same key: the upstream, deduplicating by it, did the
        // work once and answers as it did then; B stores that and replays it.
        Assert.Equal(201, retry.Status);
        Assert.Equal((2, 1), await cluster.Upstream.StatsAsync(key));
        Assert.True(replay.Replayed);
        Assert.Equal(retry.Body, replay.Body);
        Assert.Equal((2, 1), await cluster.Upstream.StatsAsync(key));
    }

    /// <summary>One upstream, two gateway nodes on one shared store, and the store's per-test space (a database, a key prefix).</summary>
    private sealed class Cluster : IAsyncDisposable
    {
        private readonly PostgresDatabase? _database;

        private Cluster(Upstream upstream, GatewayNode a, GatewayNode b, PostgresDatabase? database)
        {
            Upstream = upstream;
            A = a;
            B = b;
            _database = database;
        }

        public Upstream Upstream { get; }

        public GatewayNode A { get; }

        public GatewayNode B { get; }

        public static async Task<Cluster> StartAsync(SharedStore store, TimeSpan lease)
        {
            var upstream = await Upstream.StartAsync();
            PostgresDatabase? database = null;
            try
            {
                GatewaySetup setup;
                if (store == SharedStore.Redis)
                {
                    // Reached first, so a missing server fails with a clear message rather than a gateway that cannot start.
                    await (await RedisServer.ConnectAsync()).GetDatabase().PingAsync();
                    setup = new GatewaySetup { Upstream = upstream.Address, Store = "Redis", ConnectionString = RedisServer.Configuration, RedisKeyPrefix = RedisServer.NewPrefix(), Lease = lease };
                }
                else
                {
                    database = await PostgresDatabase.CreateAsync();

                    // A few connections per node: other test runs share the server's hundred.
                    setup = new GatewaySetup { Upstream = upstream.Address, Store = "Postgres", ConnectionString = database.ConnectionString(8, "idem-gateway-tests"), Lease = lease };
                }

                var nodes = await Task.WhenAll(GatewayNode.StartAsync(setup, "a"), GatewayNode.StartAsync(setup, "b"));
                return new Cluster(upstream, nodes[0], nodes[1], database);
            }
            catch
            {
                await upstream.DisposeAsync();
                if (database is not null)
                {
                    await database.DisposeAsync();
                }

                throw;
            }
        }

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await Upstream.DisposeAsync();
            if (_database is not null)
            {
                await _database.DisposeAsync();
            }
        }
    }
}
