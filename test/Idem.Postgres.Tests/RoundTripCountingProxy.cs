using Idem.Testing;

namespace Idem.Postgres.Tests;

/// <summary>
/// A loopback TCP proxy in front of the real server that counts round trips: each time the client sends after the
/// server has answered (or first), that is one more. Whatever a driver does (BEGIN sent with the next statement, a
/// preparation, a pooled connection's reset) shows up on the wire, so this counts what a step really costs.
/// </summary>
internal sealed class RoundTripCountingProxy(string targetHost, int targetPort) : LoopbackProxy(targetHost, targetPort)
{
    private readonly Lock _gate = new();
    private int _roundTrips;
    private bool _clientSpokeLast;

    /// <summary>Round trips since the last <see cref="Reset"/>.</summary>
    public int RoundTrips
    {
        get
        {
            lock (_gate)
            {
                return _roundTrips;
            }
        }
    }

    public void Reset()
    {
        lock (_gate)
        {
            _roundTrips = 0;
            _clientSpokeLast = false;
        }
    }

    // Counted before forwarding, so the answer can never arrive before its request was counted.
    protected override ValueTask BeforeForwardAsync(bool fromClient, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (fromClient && !_clientSpokeLast)
            {
                _roundTrips++;
            }

            _clientSpokeLast = fromClient;
        }

        return ValueTask.CompletedTask;
    }
}
