using System.Globalization;
using System.Reflection;
using Grpc.Net.Client;
using Idem.Grpc.Tests.Protos;
using Idem.Testing;

namespace Idem.Grpc.Tests.Infrastructure;

/// <summary>
/// Runs test/Idem.Grpc.Tests.Host as a real child process (<c>dotnet Idem.Grpc.Tests.Host.dll</c>) serving gRPC on a
/// SQLite file, with a channel to it.
/// </summary>
internal sealed class GrpcHostProcess : IAsyncDisposable
{
    private const string ListeningMarker = "IDEM-GRPC-HOST listening ";
    private const string BlockedMarker = "IDEM-GRPC-HOST blocked ";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;
    private GrpcChannel? _channel;

    private GrpcHostProcess(ChildProcess process) => _process = process;

    public Orders.OrdersClient Client { get; private set; } = null!;

    private static string HostPath => typeof(GrpcHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Grpc.Tests.Host.Path").Value!;

    /// <summary>Starts a host on <paramref name="databasePath"/> whose handlers hold forever when <paramref name="block"/>.</summary>
    public static async Task<GrpcHostProcess> StartAsync(string databasePath, TimeSpan lease, bool block)
    {
        List<string> arguments = ["--db", databasePath, "--lease-ms", ((long)lease.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)];
        if (block)
        {
            arguments.Add("--block");
        }

        var process = new ChildProcess("The gRPC test host", HostPath, arguments, StartTimeout);
        var host = await process.StartAsync(l => l.StartsWith(ListeningMarker, StringComparison.Ordinal), _ => new GrpcHostProcess(process));
        var line = await process.WaitForLineAsync(l => l.StartsWith(ListeningMarker, StringComparison.Ordinal));
        host._channel = GrpcChannel.ForAddress(line[ListeningMarker.Length..]);
        host.Client = new Orders.OrdersClient(host._channel);
        return host;
    }

    /// <summary>Completes when a handler is holding the call with <paramref name="key"/>.</summary>
    public Task WhenBlockedAsync(string key) => _process.WaitForLineAsync(l => l == BlockedMarker + key);

    /// <summary>SIGKILL: no shutdown, no finally blocks, no rollback by the process itself.</summary>
    public Task KillAsync() => _process.KillAsync();

    public async ValueTask DisposeAsync()
    {
        _channel?.Dispose();
        await _process.DisposeAsync();
    }
}
