using System.Net;
using System.Text;

namespace Idem.Redis.Tests;

/// <summary>
/// Two real processes, each a node of one service, serving <c>POST /orders</c> on the shared Redis. Requests with one
/// key are spread over both; the handler counts its runs in Redis, so runs on either node add up.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisNodesTests(TwoNodes nodes) : RedisNodesTestsBase(nodes), IClassFixture<TwoNodes>;

/// <summary>The same two nodes on the Redis Cluster, through StackExchange.Redis's cluster support.</summary>
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterNodesTests(TwoClusterNodes nodes) : RedisNodesTestsBase(nodes), IClassFixture<TwoClusterNodes>;

/// <summary>The same two nodes with batched claims and completions on.</summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisBatchingNodesTests(TwoBatchingNodes nodes) : RedisNodesTestsBase(nodes), IClassFixture<TwoBatchingNodes>;

/// <summary>The same two nodes on the Redis Cluster, batching on: claims grouped per hash slot.</summary>
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterBatchingNodesTests(TwoBatchingClusterNodes nodes) : RedisNodesTestsBase(nodes), IClassFixture<TwoBatchingClusterNodes>;

/// <summary>What two nodes on one Redis (a server or a cluster) must show.</summary>
public abstract class RedisNodesTestsBase(TwoNodes nodes)
{
    private const int Requests = 200;
    private const int KeysAtOnce = 10;
    private const int RequestsPerKey = 100;

    [Fact]
    public async Task TwoNodes_200DuplicatesWhileTheFirstRuns_HandlerRunsOnce()
    {
        var key = Guid.NewGuid().ToString();
        var answered = 0;
        var allButOne = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
        {
            await gate.Task;

            // Every request asks to be held; only the one that runs the handler is.
            var answer = await nodes.PostAsync(i % 2, key, hold: true);
            if (Interlocked.Increment(ref answered) == Requests - 1)
            {
                allButOne.TrySetResult();
            }

            return answer;
        })).ToArray();

        gate.SetResult();
        var ran = await Task.WhenAny(nodes.Nodes.Select(n => n.WaitForLineAsync(l => l == $"IDEM-REDISHOST ran {key}")));
        await ran;

        // All the others come back while the first is still held in its handler: every one of them overlapped it.
        await allButOne.Task.WaitAsync(TimeSpan.FromSeconds(60));
        var duplicates = requests.Where(t => t.IsCompleted).Select(t => t.Result).ToList();
        Assert.Equal(Requests - 1, duplicates.Count);
        Assert.All(duplicates, a => Assert.Equal(HttpStatusCode.Conflict, a.Status));

        foreach (var node in nodes.Nodes)
        {
            await node.SendAsync("release");
        }

        var answers = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(60));
        var first = Assert.Single(answers, a => a.Status == HttpStatusCode.Created);
        Assert.False(first.Replayed);
        Assert.Equal(1, await nodes.RunsAsync(key));

        // Both nodes replay the one stored response.
        for (var node = 0; node < 2; node++)
        {
            var replay = await nodes.PostAsync(node, key, hold: false);
            Assert.Equal((HttpStatusCode.Created, true, first.Body), (replay.Status, replay.Replayed, replay.Body));
        }

        Assert.Equal(1, await nodes.RunsAsync(key));
    }

    [Fact]
    public async Task TwoNodes_200ParallelRequestsForOneKey_HandlerRunsOnce()
    {
        var key = Guid.NewGuid().ToString();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, Requests).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return await nodes.PostAsync(i % 2, key, hold: false);
        })).ToArray();

        gate.SetResult();
        var answers = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.All(answers, a => Assert.Contains(a.Status, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict }));
        var created = answers.Where(a => a.Status == HttpStatusCode.Created).ToList();
        Assert.Single(created, a => !a.Replayed);
        Assert.Single(created.Select(a => a.Body).Distinct());
        Assert.Equal(1, await nodes.RunsAsync(key));
    }

    [Fact]
    public async Task TwoNodes_100ParallelRequestsForEachOfTenKeys_EachKeyRunsOnce()
    {
        // The keys hash to slots all over a cluster; every request of every key is sent at once, spread over both nodes.
        var keys = Enumerable.Range(0, KeysAtOnce).Select(_ => Guid.NewGuid().ToString()).ToArray();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = keys.SelectMany(key => Enumerable.Range(0, RequestsPerKey).Select(i => Task.Run(async () =>
        {
            await gate.Task;
            return (Key: key, Answer: await nodes.PostAsync(i % 2, key, hold: false));
        }))).ToArray();

        gate.SetResult();
        var answers = await Task.WhenAll(requests).WaitAsync(TimeSpan.FromSeconds(60));

        foreach (var key in keys)
        {
            var mine = answers.Where(a => a.Key == key).Select(a => a.Answer).ToList();
            Assert.All(mine, a => Assert.Contains(a.Status, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict }));
            var created = mine.Where(a => a.Status == HttpStatusCode.Created).ToList();
            Assert.Single(created, a => !a.Replayed);
            Assert.Single(created.Select(a => a.Body).Distinct());
            Assert.Equal(1, await nodes.RunsAsync(key));
        }

        // The race happened: duplicates arrived while a first execution of their key was still running (409).
        Assert.Contains(answers, a => a.Answer.Status == HttpStatusCode.Conflict);
    }
}

/// <summary>The two node processes, started once for the class, with connections to each already open.</summary>
public class TwoNodes : IAsyncLifetime
{
    private readonly string _prefix = RedisServer.NewPrefix();
    private readonly List<HttpClient> _clients = [];

    internal IReadOnlyList<RedisHostProcess> Nodes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Nodes = await Task.WhenAll(RedisHostProcess.StartAsync(Configuration, _prefix, Batching), RedisHostProcess.StartAsync(Configuration, _prefix, Batching));
        foreach (var node in Nodes)
        {
            var client = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = 128 })
            {
                BaseAddress = node.BaseAddress,
                Timeout = TimeSpan.FromSeconds(60),
            };
            _clients.Add(client);

            // Open the connections before the races, so requests meet at the servers, not in TCP handshakes.
            await Task.WhenAll(Enumerable.Range(0, 100).Select(async _ => (await client.GetAsync("/ready")).EnsureSuccessStatusCode()));
        }
    }

    internal async Task<Answer> PostAsync(int node, string key, bool hold)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = new StringContent("{\"amount\":1250}", Encoding.UTF8, "application/json") };
        request.Headers.Add("Idempotency-Key", key);
        if (hold)
        {
            request.Headers.Add("X-Hold", "true");
        }

        using var response = await _clients[node].SendAsync(request);
        return new Answer(response.StatusCode, await response.Content.ReadAsStringAsync(), response.Headers.Contains("Idempotent-Replayed"));
    }

    /// <summary>How many times the handler ran for <paramref name="key"/>, on either node.</summary>
    internal async Task<long> RunsAsync(string key)
    {
        var redis = await ConnectAsync();
        return (long)await redis.GetDatabase().StringGetAsync(_prefix + "runs:" + key);
    }

    /// <summary>Whether the nodes batch their claims and completions.</summary>
    protected virtual bool Batching => false;

    /// <summary>The Redis the nodes share.</summary>
    protected virtual string Configuration => RedisServer.Configuration;

    /// <summary>A connection of the test's own to it.</summary>
    protected virtual Task<StackExchange.Redis.ConnectionMultiplexer> ConnectAsync() => RedisServer.ConnectAsync();

    public async Task DisposeAsync()
    {
        foreach (var client in _clients)
        {
            client.Dispose();
        }

        foreach (var node in Nodes)
        {
            await node.DisposeAsync();
        }
    }
}

/// <summary>The two node processes on the Redis Cluster.</summary>
public class TwoClusterNodes : TwoNodes
{
    protected override string Configuration => RedisCluster.Configuration;

    protected override Task<StackExchange.Redis.ConnectionMultiplexer> ConnectAsync() => RedisCluster.ConnectAsync();
}

/// <summary>The two node processes on the Redis server, batching on.</summary>
public sealed class TwoBatchingNodes : TwoNodes
{
    protected override bool Batching => true;
}

/// <summary>The two node processes on the Redis Cluster, batching on.</summary>
public sealed class TwoBatchingClusterNodes : TwoClusterNodes
{
    protected override bool Batching => true;
}
