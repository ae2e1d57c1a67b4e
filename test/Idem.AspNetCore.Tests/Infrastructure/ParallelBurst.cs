namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>Fires many identical requests at once and checks the exactly-once outcome.</summary>
internal static class ParallelBurst
{
    /// <summary>
    /// Prepares <paramref name="count"/> sends that all wait on one gate, opens the gate, and returns every reply.
    /// </summary>
    public static async Task<Reply[]> SendAsync(int count, Func<Task<Reply>> send)
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ready = new CountdownEvent(count);
        var tasks = Enumerable.Range(0, count).Select(_ => Task.Run(async () =>
        {
            ready.Signal();
            await gate.Task;
            return await send();
        })).ToArray();
        Assert.True(ready.Wait(Signal.Timeout));
        gate.SetResult();
        return await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// Exactly one reply is the handler's own 2xx; every other one is a replay of it (same status, same bytes) or a
    /// 409 request-in-progress problem. Returns the number of replays.
    /// </summary>
    public static int AssertExactlyOnce(Reply[] replies, bool allowConflicts = true)
    {
        var original = Assert.Single(replies, r => r.Status is >= 200 and < 300 && !r.IsReplayed);
        var replays = 0;
        foreach (var reply in replies)
        {
            if (ReferenceEquals(reply, original))
            {
                continue;
            }

            if (reply.Status == 409 && allowConflicts)
            {
                Assert.Equal(IdempotencyProblemTypes.RequestInProgress, reply.Problem().Type);
                continue;
            }

            Assert.True(reply.IsReplayed, $"Expected a replay or 409, got {reply.Status}: {reply.Text}");
            Assert.Equal(original.Status, reply.Status);
            Assert.Equal(original.Body, reply.Body);
            replays++;
        }

        return replays;
    }
}
