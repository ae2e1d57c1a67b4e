using System.Reflection;
using Idem.Testing;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Runs test/Idem.TestHost as a real child process (<c>dotnet Idem.TestHost.dll</c>) and reads its stdout markers.
/// </summary>
internal sealed class TestHostProcess : IAsyncDisposable
{
    private const string ListeningMarker = "IDEM-TESTHOST listening ";

    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;

    private TestHostProcess(ChildProcess process) => _process = process;

    public Uri BaseAddress { get; private set; } = null!;

    public int Id => _process.Id;

    public static string HostPath => typeof(TestHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.TestHost.Path").Value!;

    public static async Task<TestHostProcess> StartAsync(string databasePath, bool block)
    {
        string[] arguments = block ? ["--db", databasePath, "--block"] : ["--db", databasePath];
        var process = new ChildProcess("The test host", HostPath, arguments, StartTimeout);
        return await process.StartAsync(
            l => l.StartsWith(ListeningMarker, StringComparison.Ordinal),
            listening => new TestHostProcess(process) { BaseAddress = new Uri(listening[ListeningMarker.Length..]) });
    }

    /// <summary>Completes with the first stdout line that matches; fails if the process ends first or the time runs out.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null) => _process.WaitForLineAsync(match, timeout);

    /// <summary>SIGKILL on Unix: no shutdown, no finally blocks, no rollback by the process itself.</summary>
    public Task KillAsync() => _process.KillAsync();

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
