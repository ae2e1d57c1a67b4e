using System.Net;
using System.Net.Sockets;

namespace Idem.Postgres.Tests;

/// <summary>
/// A loopback TCP proxy in front of the real server that counts round trips: each time the client sends after the
/// server has answered (or first), that is one more. Whatever a driver does (BEGIN sent with the next statement, a
/// preparation, a pooled connection's reset) shows up on the wire, so this counts what a step really costs.
/// </summary>
internal sealed class RoundTripCountingProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Lock _gate = new();
    private readonly Task _accepting;
    private int _roundTrips;
    private bool _clientSpokeLast;

    public RoundTripCountingProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

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

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _accepting;
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }

        Task[] pumps;
        lock (_gate)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps.Select(p => p.ContinueWith(_ => { }, TaskScheduler.Default)));
        _stop.Dispose();
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var server = new TcpClient { NoDelay = true };
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            client.NoDelay = true;
            lock (_gate)
            {
                _pumps.Add(PumpAsync(client, server, fromClient: true));
                _pumps.Add(PumpAsync(server, client, fromClient: false));
            }
        }
    }

    private async Task PumpAsync(TcpClient from, TcpClient to, bool fromClient)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            var input = from.GetStream();
            var output = to.GetStream();
            while (true)
            {
                var read = await input.ReadAsync(buffer, _stop.Token);
                if (read == 0)
                {
                    break;
                }

                // Counted before forwarding, so the answer can never arrive before its request was counted.
                lock (_gate)
                {
                    if (fromClient && !_clientSpokeLast)
                    {
                        _roundTrips++;
                    }

                    _clientSpokeLast = fromClient;
                }

                await output.WriteAsync(buffer.AsMemory(0, read), _stop.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        finally
        {
            from.Dispose();
            to.Dispose();
        }
    }
}
