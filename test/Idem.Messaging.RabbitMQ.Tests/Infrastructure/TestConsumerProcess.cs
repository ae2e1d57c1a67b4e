using System.Reflection;
using Idem.Testing;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>Runs test/Idem.Messaging.TestConsumer as a real child process and reads its stdout markers.</summary>
internal sealed class TestConsumerProcess : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly ChildProcess _process;

    private TestConsumerProcess(ChildProcess process) => _process = process;

    private static string ConsumerPath => typeof(TestConsumerProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Messaging.TestConsumer.Path").Value!;

    public static async Task<TestConsumerProcess> StartConsumerAsync(string databasePath, TestBroker broker, bool blockAfterCommit)
    {
        string[] arguments = ["--db", databasePath, "--uri", RabbitMqServer.Uri.ToString(), "--exchange", broker.Exchange, "--prefix", broker.QueuePrefix];
        if (blockAfterCommit)
        {
            arguments = [.. arguments, "--block-after-commit"];
        }

        var process = new ChildProcess("The test consumer", ConsumerPath, arguments, Timeout, start => start.RedirectStandardInput = true);
        return await process.StartAsync(l => l == "READY", _ => new TestConsumerProcess(process));
    }

    /// <summary>Completes with the first stdout line that matches; fails if the process ends first or the time runs out.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match) => _process.WaitForLineAsync(match);

    /// <summary>SIGKILL: no shutdown, no acknowledgement, no finally blocks.</summary>
    public Task KillAsync() => _process.KillAsync();

    /// <summary>Asks the process to stop gracefully (its host stops, settling what it holds) and waits for it.</summary>
    public async Task StopAsync()
    {
        await _process.SendAsync("stop");
        await _process.WaitForExitAsync();
    }

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
