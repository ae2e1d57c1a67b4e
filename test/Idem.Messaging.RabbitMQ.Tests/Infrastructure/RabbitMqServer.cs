using System.Diagnostics;
using RabbitMQ.Client;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>
/// The real RabbitMQ these tests run against, named by <c>IDEM_TEST_RABBITMQ</c> (./test.sh provisions one and sets it).
/// Missing or unreachable, every test that needs it fails with a message that says so (under CI=true and elsewhere): it
/// never skips.
/// </summary>
internal static class RabbitMqServer
{
    public const string Variable = "IDEM_TEST_RABBITMQ";

    /// <summary>Trait marking tests that talk to the real broker.</summary>
    public const string Category = "RabbitMQ";

    public static Uri Uri
        => Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } value
            ? new Uri(value)
            : throw new InvalidOperationException(
                $"{Variable} is not set{(Environment.GetEnvironmentVariable("CI") == "true" ? " (CI=true)" : "")}. These tests need a real RabbitMQ: " +
                $"run ./test.sh (which provisions one), or `. artifacts/test-services.env`, or export {Variable}=amqp://guest:guest@127.0.0.1:5672/.");

    public static async Task<IConnection> ConnectAsync()
    {
        try
        {
            return await new ConnectionFactory { Uri = Uri, ClientProvidedName = "idem-tests" }.CreateConnectionAsync();
        }
        catch (Exception ex) when (ex is global::RabbitMQ.Client.Exceptions.BrokerUnreachableException)
        {
            throw new InvalidOperationException($"RabbitMQ at {Uri.Host}:{Uri.Port} (from {Variable}) is unreachable: {ex.Message}. Start it with eng/provision.sh or ./test.sh.", ex);
        }
    }

    /// <summary>
    /// Stops the broker's application, runs <paramref name="whileDown"/>, and starts it again, always; returns once it
    /// accepts AMQP connections again.
    /// </summary>
    public static async Task RestartAsync(Func<Task> whileDown)
    {
        await RabbitMqCtlAsync("stop_app");
        try
        {
            await whileDown();
        }
        finally
        {
            await RabbitMqCtlAsync("start_app");
            await RabbitMqCtlAsync("await_startup");
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                try
                {
                    await using var connection = await ConnectAsync();
                    break;
                }
                catch (InvalidOperationException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(200);
                }
            }
        }
    }

    private static async Task RabbitMqCtlAsync(string command)
    {
        var start = new ProcessStartInfo("rabbitmqctl") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-q");
        start.ArgumentList.Add(command);
        using var process = Process.Start(start) ?? throw new InvalidOperationException("rabbitmqctl could not be started.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"rabbitmqctl {command} exited with {process.ExitCode}: {await output}{await error} (the broker-restart test runs as root, as ./test.sh does).");
        }
    }
}
