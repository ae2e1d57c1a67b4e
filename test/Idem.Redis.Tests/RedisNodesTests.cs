using System.Net;
using System.Text;

namespace Idem.Redis.Tests;

/// <summary>
/// Two real processes, each a node of one service, serving <c>POST /orders</c> on the shared Redis. Requests with one
/// key are spread over both; the handler counts its runs in Redis, so runs on either node add up.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisNodesTests(TwoNodes nodes) : IClassFixture<TwoNodes>
{
    private const int Requests = 200;

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
}

/// <summary>The two node processes, started once for the class, with connections to each already open.</summary>
public sealed class TwoNodes : IAsyncLifetime
{
    private readonly string _prefix = RedisServer.NewPrefix();
    private readonly List<HttpClient> _clients = [];

    internal IReadOnlyList<RedisHostProcess> Nodes { get; private set; } = [];

    public async Task InitializeAsync()
    {
        Nodes = await Task.WhenAll(RedisHostProcess.StartAsync(RedisServer.Configuration, _prefix), RedisHostProcess.StartAsync(RedisServer.Configuration, _prefix));
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
        var redis = await RedisServer.ConnectAsync();
        return (long)await redis.GetDatabase().StringGetAsync(_prefix + "runs:" + key);
    }

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
