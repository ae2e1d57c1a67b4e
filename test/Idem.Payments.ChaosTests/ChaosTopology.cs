using System.Net;
using System.Net.Sockets;
using Idem.Payments.Tests.Infrastructure;

namespace Idem.Payments.ChaosTests;

/// <summary>One life of the payments node, from a start to the SIGKILL that ends it.</summary>
internal sealed class NodeLife(int number)
{
    private volatile bool _killed;

    public int Number { get; } = number;

    /// <summary>Set just before the kill: a request of this life that fails from now on was cut by it.</summary>
    public bool Killed => _killed;

    public void MarkKilled() => _killed = true;
}

/// <summary>
/// The chaos run's processes: the processor simulator (a process of its own that lives through the whole run; its file
/// is the ground truth of what was charged) and one payments node on a fixed loopback port, which the run SIGKILLs and
/// starts again on the same database. Clients keep one address: while the node is down they get connection refused.
/// </summary>
internal sealed class ChaosTopology : IAsyncDisposable
{
    private static readonly TimeSpan HttpTimeout = TimeSpan.FromSeconds(20);

    private readonly string[] _nodeArguments;
    private readonly string _processorFile;
    private PaymentsProcess? _node;
    private NodeLife _life = new(0);

    private ChaosTopology(PaymentsProcess processor, string processorFile, string[] nodeArguments, Uri address)
    {
        Processor = processor;
        _processorFile = processorFile;
        _nodeArguments = nodeArguments;
        Address = address;
        Http = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(3),
            PooledConnectionLifetime = TimeSpan.FromSeconds(30),
        })
        { BaseAddress = address, Timeout = HttpTimeout };
        ProcessorHttp = new HttpClient { BaseAddress = processor.BaseAddress, Timeout = HttpTimeout };
    }

    public PaymentsProcess Processor { get; }

    /// <summary>The node's address, the same in every life.</summary>
    public Uri Address { get; }

    /// <summary>The clients' connection to the node (whichever life is running).</summary>
    public HttpClient Http { get; }

    /// <summary>Reads the processor's own record (<c>GET /v1/charges</c>, <c>GET /v1/refunds</c>).</summary>
    public HttpClient ProcessorHttp { get; }

    public NodeLife Life => Volatile.Read(ref _life);

    public int Kills { get; private set; }

    /// <summary>How long each restart took, from the kill to the new life listening.</summary>
    public List<TimeSpan> Downtimes { get; } = [];

    /// <summary>The node's last output lines, for failure messages.</summary>
    public string NodeOutput => _node?.Output ?? "";

    /// <summary>
    /// Starts the processor (tok_timeout answers its first attempt after 2 s, tok_unavailable is down 1.5 s per key) and
    /// the node over <paramref name="databaseArguments"/>: the processor's deadline (1 s) is below that delay, so
    /// tok_timeout's charge outcome is unknown to the request that made it; the completer takes over payments pending
    /// for 2 s; a killed request's lease runs out after 3 s.
    /// </summary>
    public static async Task<ChaosTopology> StartAsync(string[] databaseArguments)
    {
        var processorFile = SqlitePaymentsServer.NewDatabasePath();
        var processor = await PaymentsProcess.StartProcessorAsync("processor",
            "--Processor:ConnectionString=Data Source=" + processorFile,
            "--Processor:TimeoutDelay=00:00:02",
            "--Processor:UnavailableFor=00:00:01.500");
        var port = FreePort();
        var address = new Uri($"http://127.0.0.1:{port}/");
        string[] nodeArguments =
        [
            "--urls", $"http://127.0.0.1:{port}",
            "--Processor:BaseUrl=" + processor.BaseAddress,
            "--Payments:ProcessorDeadline=00:00:01",
            "--Payments:ProcessorAttemptTimeout=00:00:00.800",
            "--Payments:AbandonedAfter=00:00:02",
            "--Payments:CompleterInterval=00:00:00.500",
            "--Idempotency:LeaseDuration=00:00:03",
            .. databaseArguments,
        ];
        var topology = new ChaosTopology(processor, processorFile, nodeArguments, address);
        try
        {
            await topology.StartNodeAsync();
            return topology;
        }
        catch
        {
            await topology.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGKILLs the node (marking its life first), waits <paramref name="downtime"/>, starts a new life.</summary>
    public async Task KillAndRestartAsync(TimeSpan downtime)
    {
        var node = _node!;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        Life.MarkKilled();
        await node.KillAsync();
        Kills++;
        await node.DisposeAsync();
        _node = null;
        await Task.Delay(downtime);
        await StartNodeAsync();
        Downtimes.Add(clock.Elapsed);
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        ProcessorHttp.Dispose();
        if (_node is not null)
        {
            await _node.DisposeAsync();
        }

        await Processor.DisposeAsync();
        SqlitePaymentsServer.DeleteDatabase(_processorFile);
    }

    private async Task StartNodeAsync()
    {
        var life = new NodeLife(Life.Number + 1);
        _node = await PaymentsProcess.StartAsync("node-" + life.Number, _nodeArguments);
        Volatile.Write(ref _life, life);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
