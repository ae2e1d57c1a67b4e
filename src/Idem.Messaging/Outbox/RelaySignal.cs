namespace Idem.Messaging.Outbox;

/// <summary>Wakes the relay of this process when something was enqueued here, so it need not wait for its next poll.</summary>
internal sealed class RelaySignal
{
    private TaskCompletionSource _raised = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Raise() => Volatile.Read(ref _raised).TrySetResult();

    /// <summary>Consumes a raised signal: the next wait waits for the next <see cref="Raise"/>.</summary>
    public void Reset()
    {
        var current = Volatile.Read(ref _raised);
        if (current.Task.IsCompleted)
        {
            Interlocked.CompareExchange(ref _raised, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously), current);
        }
    }

    /// <summary>True when raised (since the last reset) within <paramref name="timeout"/>; false when the time ran out.</summary>
    public async Task<bool> WaitAsync(TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        var raised = Volatile.Read(ref _raised).Task;
        if (raised.IsCompleted)
        {
            return true;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var delay = Task.Delay(timeout, time, stop.Token);
        var first = await Task.WhenAny(raised, delay).ConfigureAwait(false);
        await stop.CancelAsync().ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        return first == raised;
    }
}
