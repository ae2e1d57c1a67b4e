using System.Reflection;
using Idem.Testing;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// The real service binary (<c>dotnet Idem.Payments.dll</c>) as a child process: one node. It binds a free loopback port
/// (<c>--urls http://127.0.0.1:0</c>) and the test reads the address from the host's own "Now listening on" line.
/// </summary>
internal sealed class PaymentsProcess : IAsyncDisposable
{
    private const string ListeningMarker = "Now listening on: ";
    private const int MaxKeptLines = 400;

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly ChildProcess _process;
    private readonly Lock _gate = new();
    private readonly Queue<string> _output = new();
    private readonly TaskCompletionSource<Uri> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private PaymentsProcess(string name, string[] arguments)
    {
        Name = name;
        _process = new ChildProcess("The service", ServicePath, arguments, StartTimeout, start =>
        {
            start.WorkingDirectory = Path.GetDirectoryName(ServicePath)!;
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        }, OnLine);
        _process.Exited.ContinueWith(
            _ => _listening.TrySetException(new InvalidOperationException($"Node {Name} exited before listening.\n{Output}")),
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public string Name { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The last lines the node wrote (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join('\n', _output);
            }
        }
    }

    public static string ServicePath => typeof(PaymentsProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Payments.Path").Value!;

    /// <summary>Starts a node with the given settings (as <c>--Key=Value</c> arguments) and waits until it listens.</summary>
    public static Task<PaymentsProcess> StartAsync(string name, params string[] settings) => StartAsync(name, [], settings);

    /// <summary>
    /// Starts the card processor simulator as a process of its own (<c>Idem.Payments --processor</c>), so it outlives any
    /// payments node, and waits until it listens; point a node at it with <c>--Processor:BaseUrl</c>.
    /// </summary>
    public static Task<PaymentsProcess> StartProcessorAsync(string name, params string[] settings) => StartAsync(name, ["--processor"], settings);

    private static async Task<PaymentsProcess> StartAsync(string name, string[] mode, string[] settings)
    {
        var node = new PaymentsProcess(name, [.. mode, "--urls", "http://127.0.0.1:0", "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information", .. settings]);
        try
        {
            node._process.Start();
            node.BaseAddress = await node._listening.Task.WaitAsync(StartTimeout);
            node.Http = PaymentsServer.NewHttpClient(node.BaseAddress);
            return node;
        }
        catch
        {
            await node.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILL: no shutdown, no finally blocks, no rollback by the process itself; its sockets just close.</summary>
    public Task KillAsync() => _process.KillAsync();

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        await _process.DisposeAsync();
    }

    private void OnLine(string line)
    {
        lock (_gate)
        {
            _output.Enqueue(line);
            if (_output.Count > MaxKeptLines)
            {
                _output.Dequeue();
            }
        }

        var at = line.IndexOf(ListeningMarker, StringComparison.Ordinal);
        if (at >= 0 && Uri.TryCreate(line[(at + ListeningMarker.Length)..].Trim(), UriKind.Absolute, out var address))
        {
            _listening.TrySetResult(address);
        }
    }
}
