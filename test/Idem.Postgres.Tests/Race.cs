namespace Idem.Postgres.Tests;

/// <summary>
/// Runs rounds of racers on dedicated threads that wait at a gate until all of them stand at it, so their calls really
/// overlap even on two cores (the conformance suite's way of racing, for tests outside it).
/// </summary>
internal static class Race
{
    public static async Task<T[][]> RunAsync<T>(int rounds, int racers, Func<int, int, Task<T>> racer)
    {
        var results = new T[rounds][];
        for (var round = 0; round < rounds; round++)
        {
            results[round] = new T[racers];
            using var ready = new CountdownEvent(racers);
            using var gate = new ManualResetEventSlim(false);
            var failures = new Exception?[racers];
            var threads = new Thread[racers];
            var r = round;
            for (var i = 0; i < racers; i++)
            {
                var index = i;
                threads[i] = new Thread(() =>
                {
                    ready.Signal();
                    gate.Wait();
                    try
                    {
#pragma warning disable xUnit1031 // Each racer owns a dedicated thread: blocking it is the point.
                        results[r][index] = racer(r, index).GetAwaiter().GetResult();
#pragma warning restore xUnit1031
                    }
                    catch (Exception ex)
                    {
                        failures[index] = ex;
                    }
                })
                {
                    IsBackground = true,
                    Name = $"racer-{index}",
                };
                threads[i].Start();
            }

            await Task.Run(() => ready.Wait(TimeSpan.FromSeconds(60)));
            gate.Set();
            await Task.Run(() =>
            {
                foreach (var thread in threads)
                {
                    thread.Join(TimeSpan.FromSeconds(60));
                }
            });

            if (failures.FirstOrDefault(f => f is not null) is { } failure)
            {
                throw new InvalidOperationException($"A racer failed in round {round}.", failure);
            }
        }

        return results;
    }
}
