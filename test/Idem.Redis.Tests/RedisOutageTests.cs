using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace Idem.Redis.Tests;

/// <summary>
/// A private Redis stopped under load, cleanly (<c>SHUTDOWN</c>) or with SIGKILL, then started again on its AOF
/// (<c>appendfsync always</c>). While it is down every request is 503 and no handler runs; every handler run held a
/// claim of its own; a key Redis acknowledged as completed never runs again; afterwards every key answers again, with
/// one and the same body for every answer of a key that ran once.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisOutageTests
{
    private const int Keys = 24;
    private const int Workers = 8;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(45);

    private enum Phase
    {
        Up,
        Down,
        Recovering,
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Outage_UnderLoad_FailsCleanlyAndRecovers(bool kill)
    {
        await using var redis = await PrivateRedis.StartAsync();

        // A short lease: a key whose completion was lost to the outage is taken over soon after Redis is back.
        await using var app = await OrdersApp.StartAsync(redis.Configuration, RedisServer.NewPrefix(), o => o.LeaseDuration = TimeSpan.FromSeconds(1));
        var keys = Enumerable.Range(0, Keys).Select(_ => Guid.NewGuid().ToString()).ToArray();
        var answers = new ConcurrentQueue<(string Key, Phase Sent, Phase Received, Answer Answer)>();
        var phase = (int)Phase.Up;
        var stop = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        var next = 0;

        var workers = Enumerable.Range(0, Workers).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested && clock.Elapsed < Deadline)
            {
                var key = keys[Interlocked.Increment(ref next) % keys.Length];
                var sent = (Phase)Volatile.Read(ref phase);
                var answer = await app.PostAsync(key);
                answers.Enqueue((key, sent, (Phase)Volatile.Read(ref phase), answer));
            }
        })).ToArray();

        try
        {
            await UntilAsync(() => answers.Count(a => a.Answer.Status == HttpStatusCode.Created) >= 100, "100 answers before the outage");
            if (kill)
            {
                await redis.KillAsync();
            }
            else
            {
                await redis.ShutdownAsync();
            }

            Volatile.Write(ref phase, (int)Phase.Down);
            var runsWhenDown = app.Runs.Values.Sum();

            // Down: wait for requests sent and answered wholly inside the outage.
            await UntilAsync(() => answers.Count(a => a.Sent == Phase.Down && a.Received == Phase.Down) >= 40, "40 answers while Redis was down");
            var runsBeforeRestart = app.Runs.Values.Sum();
            Volatile.Write(ref phase, (int)Phase.Recovering);
            await redis.StartAgainAsync();

            // Every key answers 201 again, sent after the restart.
            await UntilAsync(
                () => keys.All(k => answers.Any(a => a.Key == k && a.Sent == Phase.Recovering && a.Answer.Status == HttpStatusCode.Created)),
                "every key answered 201 after the restart");

            // Runs during the outage can only be handlers whose claim landed before it (they finish with Redis gone).
            Assert.InRange(runsBeforeRestart - runsWhenDown, 0, Workers);
        }
        finally
        {
            await stop.CancelAsync();
            await Task.WhenAll(workers);
        }

        var all = answers.ToArray();
        Assert.All(all, a => Assert.Contains(a.Answer.Status, new[] { HttpStatusCode.Created, HttpStatusCode.Conflict, HttpStatusCode.ServiceUnavailable }));
        Assert.All(all.Where(a => a.Sent == Phase.Down && a.Received == Phase.Down), a => Assert.Equal(HttpStatusCode.ServiceUnavailable, a.Answer.Status));
        Assert.Empty(app.Violations);

        foreach (var key in keys)
        {
            // A second run is only ever the retry of a run whose completion the outage swallowed.
            var runs = app.Runs.GetValueOrDefault(key);
            Assert.InRange(runs, 1, 1 + app.Probe.CompleteFailures(key));
            if (runs == 1)
            {
                var bodies = all.Where(a => a.Key == key && a.Answer.Status == HttpStatusCode.Created).Select(a => a.Answer.Body).Distinct().ToList();
                Assert.Single(bodies);
            }
        }
    }

    private static async Task UntilAsync(Func<bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < Deadline, $"Timed out waiting for {what}.");
            await Task.Delay(20);
        }
    }
}
