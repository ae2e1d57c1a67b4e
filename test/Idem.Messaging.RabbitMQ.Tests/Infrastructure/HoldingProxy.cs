using Idem.Testing;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>
/// A loopback TCP proxy in front of the broker that can hold back what the broker sends (its confirms, its replies)
/// while what the client sends still flows: a broker that got a publish and has not answered yet, on demand.
/// </summary>
internal sealed class HoldingProxy(Uri target) : LoopbackProxy(target.Host, target.Port)
{
    private readonly Uri _target = target;
    private readonly Lock _gate = new();
    private TaskCompletionSource _open = Opened();

    /// <summary>The broker's URI with this proxy's port.</summary>
    public Uri Uri => new UriBuilder(_target) { Host = "127.0.0.1", Port = Port }.Uri;

    /// <summary>From now on, bytes from the broker wait (in order) until <see cref="Release"/>.</summary>
    public void HoldBrokerToClient()
    {
        lock (_gate)
        {
            if (_open.Task.IsCompleted)
            {
                _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }
    }

    public void Release()
    {
        lock (_gate)
        {
            _open.TrySetResult();
        }
    }

    protected override async ValueTask BeforeForwardAsync(bool fromClient, CancellationToken cancellationToken)
    {
        if (fromClient)
        {
            return;
        }

        Task open;
        lock (_gate)
        {
            open = _open.Task;
        }

        await open.WaitAsync(cancellationToken);
    }

    private static TaskCompletionSource Opened()
    {
        var open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        open.SetResult();
        return open;
    }
}
