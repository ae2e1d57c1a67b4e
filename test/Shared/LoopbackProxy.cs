using System.Net;
using System.Net.Sockets;

namespace Idem.Testing;

/// <summary>
/// A loopback TCP proxy in front of a real server, for tests that watch or hold what goes over the wire: each chunk read
/// from one side is written to the other after <see cref="BeforeForwardAsync"/>. Linked as source into the test
/// projects that need it; each derives what it watches for.
/// </summary>
internal abstract class LoopbackProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _pumps = [];
    private readonly Lock _pumpsGate = new();
    private readonly Task _accepting;

    protected LoopbackProxy(string targetHost, int targetPort)
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

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
        lock (_pumpsGate)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps.Select(p => p.ContinueWith(_ => { }, TaskScheduler.Default)));
        _stop.Dispose();
    }

    /// <summary>Runs before a chunk is forwarded: <paramref name="fromClient"/> tells its direction. May wait.</summary>
    protected abstract ValueTask BeforeForwardAsync(bool fromClient, CancellationToken cancellationToken);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            var client = await _listener.AcceptTcpClientAsync(_stop.Token);
            var server = new TcpClient { NoDelay = true };
            await server.ConnectAsync(_targetHost, _targetPort, _stop.Token);
            client.NoDelay = true;
            lock (_pumpsGate)
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

                await BeforeForwardAsync(fromClient, _stop.Token);
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
