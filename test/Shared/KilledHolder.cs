using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace Idem.Testing;

/// <summary>
/// A holder of a key killed with SIGKILL after a recovery point, on a shared store, with the default lease: the retry is
/// refused as in progress while the dead holder's lease runs, then takes the key over at the point, resumes instead of
/// redoing the effect, and completes. The holder is test/Idem.Tests.Worker, a real process; its path is baked into the
/// test assembly as the metadata <c>Idem.Tests.Worker.Path</c>. Linked as source into the store test projects.
/// </summary>
internal static class KilledHolder
{
    public const string Operation = "orders.charge";
    public const string RecoveryPoint = "charged";

    // Room for a loaded machine on both bounds: the worker's start, the kill, and one retry interval.
    private static readonly TimeSpan Slack = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private static string WorkerPath => typeof(KilledHolder).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Tests.Worker.Path").Value!;

    /// <summary>Runs the scenario on one store; returns how long the key stayed held after the kill.</summary>
    /// <param name="store">The worker's store argument: sqlite, postgres or redis.</param>
    /// <param name="connection">The store's connection string, for the worker and the test alike.</param>
    /// <param name="ns">Where the records and the effect live (see the worker).</param>
    /// <param name="addStore">Registers the same store in the test's own executor.</param>
    /// <param name="effect">Performs the operation's effect for a key, as the worker does.</param>
    /// <param name="countEffects">How many times the effect happened for a key.</param>
    public static async Task<TimeSpan> RetryAfterKillAsync(
        string store, string connection, string ns, Action<IIdempotencyBuilder> addStore, Func<string, Task> effect, Func<string, Task<long>> countEffects)
    {
        var key = Guid.NewGuid().ToString("N");
        var lease = new IdempotencyOptions().LeaseDuration;
        var renewal = lease / 3;

        Stopwatch sinceKill;
        await using (var holder = new ChildProcess("The killed holder", WorkerPath, [store, connection, ns, key], StartTimeout))
        {
            holder.Start();
            await holder.WaitForLineAsync(l => l == "blocked");

            // Counted from just before the kill, so a slow exit on a loaded machine never shortens the measured hold.
            sinceKill = Stopwatch.StartNew();
        }

        // Disposing the holder killed it (SIGKILL) and waited for it to exit: no release, no completion, no renewal.
        Assert.Equal(1, await countEffects(key));

        var services = new ServiceCollection();
        addStore(services.AddIdempotentExecutor());
        await using var provider = services.BuildServiceProvider();
        var executor = provider.GetRequiredService<IIdempotentExecutor>();
        var operation = IdempotentOperation.Create(Operation, key);

        var runs = 0;
        string? resumedAt = null;
        var refused = 0;
        IdempotentResult<string> result;
        while (true)
        {
            result = await executor.RunAsync(operation, async (context, ct) =>
            {
                Interlocked.Increment(ref runs);
                resumedAt = context.RecoveryPoint;
                if (context.RecoveryPoint != RecoveryPoint)
                {
                    await effect(key);
                    await context.CommitPhaseAsync(RecoveryPoint, ct);
                }

                return "resumed";
            });
            if (result.Outcome != IdempotentOutcome.InProgress)
            {
                break;
            }

            refused++;
            Assert.True(sinceKill.Elapsed <= lease + renewal + Slack, $"The key was still held {sinceKill.Elapsed} after its holder was killed.");
            await Task.Delay(RetryInterval);
        }

        var held = sinceKill.Elapsed;
        Assert.Equal(IdempotentOutcome.Executed, result.Outcome);
        Assert.Equal("resumed", result.Value);
        Assert.Equal(1, runs);
        Assert.Equal(RecoveryPoint, resumedAt);
        Assert.Equal(1, await countEffects(key));

        // The dead holder really held the key, for its whole lease, and lost it within a renewal period after that.
        Assert.True(refused > 0, "The first retry after the kill was not refused as in progress.");
        Assert.InRange(held, lease - Slack, lease + renewal + Slack);

        // And the result is the key's answer from now on.
        var replay = await executor.RunAsync<string>(operation, (_, _) => throw new InvalidOperationException("A completed key ran again."));
        Assert.Equal((IdempotentOutcome.Replayed, "resumed"), (replay.Outcome, replay.Value));
        return held;
    }
}
