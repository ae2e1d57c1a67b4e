using System.Reflection;
using Idem.Testing;

namespace Idem.Redis.Tests;

/// <summary>
/// Runs test/Idem.Redis.Tests.Host as a real child process (<c>dotnet Idem.Redis.Tests.Host.dll</c>): one node of a
/// service on Redis. Reads its stdout markers and writes commands to its stdin.
/// </summary>
internal sealed class RedisHostProcess : IAsyncDisposable
{
    private const string ListeningMarker = "IDEM-REDISHOST listening ";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;

    private RedisHostProcess(ChildProcess process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;

    public static string HostPath => typeof(RedisHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Redis.Tests.Host.Path").Value!;

    public static async Task<RedisHostProcess> StartAsync(string redisConfiguration, string prefix, bool batching = false)
    {
        string[] arguments = batching ? ["--redis", redisConfiguration, "--prefix", prefix, "--batching"] : ["--redis", redisConfiguration, "--prefix", prefix];
        var process = new ChildProcess("The Redis test host", HostPath, arguments, StartTimeout,
            start => start.RedirectStandardInput = true);
        return await process.StartAsync(
            l => l.StartsWith(ListeningMarker, StringComparison.Ordinal),
            listening => new RedisHostProcess(process) { BaseAddress = new Uri(listening[ListeningMarker.Length..]) });
    }

    /// <summary>Completes with the first stdout line that matches; fails if the process ends first or the time runs out.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null) => _process.WaitForLineAsync(match, timeout);

    /// <summary>Writes one line to the process's stdin.</summary>
    public Task SendAsync(string line) => _process.SendAsync(line);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
