using System.Collections.Concurrent;
using Idem.Messaging.Inbox;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>Counts what the inbox committed and skipped, and lets a test await a count (a barrier, not a sleep).</summary>
internal class Observer : IMessagingObserver
{
    private readonly ConcurrentQueue<string> _committed = new();
    private readonly ConcurrentQueue<string> _skipped = new();
    private readonly Lock _gate = new();
    private readonly List<(Func<bool> Done, TaskCompletionSource Reached)> _waiters = [];

    public IReadOnlyList<string> CommittedIds => [.. _committed];

    public IReadOnlyList<string> SkippedIds => [.. _skipped];

    public void Committed(string consumer, Message message)
    {
        _committed.Enqueue(message.Id);
        Check();
        AfterCommitted(message);
    }

    public void Skipped(string consumer, Message message)
    {
        _skipped.Enqueue(message.Id);
        Check();
    }

    /// <summary>Completes when <paramref name="done"/> holds after some delivery; fails after <paramref name="timeout"/>.</summary>
    public Task WhenAsync(Func<Observer, bool> done, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (done(this))
            {
                return Task.CompletedTask;
            }

            var reached = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((() => done(this), reached));
            return reached.Task.WaitAsync(timeout);
        }
    }

    /// <summary>Runs on the delivery's own path, after the commit and before the transport settles it.</summary>
    protected virtual void AfterCommitted(Message message)
    {
    }

    private void Check()
    {
        lock (_gate)
        {
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Done())
                {
                    _waiters[i].Reached.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
