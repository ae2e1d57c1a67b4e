using System.Threading.Channels;

namespace Idem;

/// <summary>
/// Work that waits to be taken in batches, and the one loop that takes it: the loop starts when work arrives and none
/// runs, calls its batch function while anything waits, and stops when nothing does. Group commit and batched claims and
/// completions are built on it.
/// </summary>
internal sealed class WorkQueue<T>
    where T : class
{
    private readonly Channel<T> _waiting = Channel.CreateUnbounded<T>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Func<Task> _runBatch;
    private int _running;

    /// <param name="runBatch">Takes one batch from the queue (<see cref="TryTake"/>, <see cref="NextAsync"/>) and runs it; never throws.</param>
    public WorkQueue(Func<Task> runBatch) => _runBatch = runBatch;

    /// <summary>Adds work, and starts the loop unless it runs.</summary>
    public void Enqueue(T item)
    {
        _waiting.Writer.TryWrite(item);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            _ = Task.Run(RunAsync, CancellationToken.None);
        }
    }

    /// <summary>Takes the next waiting item, if any.</summary>
    public bool TryTake(out T item) => _waiting.Reader.TryRead(out item!);

    /// <summary>The next waiting item, or null once none has come for <paramref name="maxWait"/> (none at all when zero).</summary>
    public async ValueTask<T?> NextAsync(TimeSpan maxWait)
    {
        if (_waiting.Reader.TryRead(out var item))
        {
            return item;
        }

        if (maxWait <= TimeSpan.Zero)
        {
            return null;
        }

        using var wait = new CancellationTokenSource(maxWait);
        try
        {
            return await _waiting.Reader.ReadAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (wait.IsCancellationRequested)
        {
            return null;
        }
    }

    private async Task RunAsync()
    {
        while (true)
        {
            if (!_waiting.Reader.TryPeek(out _))
            {
                // Nothing waits: stop, unless work came in between the look and the stop.
                Volatile.Write(ref _running, 0);
                if (!_waiting.Reader.TryPeek(out _) || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
                {
                    return;
                }
            }

            await _runBatch().ConfigureAwait(false);
        }
    }
}
