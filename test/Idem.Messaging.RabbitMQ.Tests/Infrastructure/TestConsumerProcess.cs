using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>Runs test/Idem.Messaging.TestConsumer as a real child process and reads its stdout markers.</summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _errors = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private bool _exited;

    private ChildProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            lock (_gate)
            {
                _errors.AppendLine(e.Data);
            }
        };
    }

    private static string ConsumerPath => typeof(ChildProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Messaging.TestConsumer.Path").Value!;

    public static async Task<ChildProcess> StartConsumerAsync(string databasePath, TestBroker broker, bool blockAfterCommit)
    {
        Assert.True(File.Exists(ConsumerPath), $"The test consumer was not built at {ConsumerPath}.");
        var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { ConsumerPath, "--db", databasePath, "--uri", RabbitMqServer.Uri.ToString(), "--exchange", broker.Exchange, "--prefix", broker.QueuePrefix })
        {
            start.ArgumentList.Add(argument);
        }

        if (blockAfterCommit)
        {
            start.ArgumentList.Add("--block-after-commit");
        }

        var child = new ChildProcess(new Process { StartInfo = start });
        child._process.Start();
        child._process.BeginOutputReadLine();
        child._process.BeginErrorReadLine();
        try
        {
            await child.WaitForLineAsync(l => l == "READY");
            return child;
        }
        catch
        {
            await child.DisposeAsync();
            throw;
        }
    }

    /// <summary>Completes with the first stdout line that matches; fails if the process ends first or the time runs out.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match)
    {
        lock (_gate)
        {
            foreach (var line in _lines)
            {
                if (match(line))
                {
                    return Task.FromResult(line);
                }
            }

            if (_exited)
            {
                return Task.FromException<string>(new InvalidOperationException($"The test consumer exited. stderr:\n{_errors}"));
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task.WaitAsync(Timeout);
        }
    }

    /// <summary>SIGKILL: no shutdown, no acknowledgement, no finally blocks.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(Timeout);
    }

    /// <summary>Asks the process to stop gracefully (its host stops, settling what it holds) and waits for it.</summary>
    public async Task StopAsync()
    {
        await _process.StandardInput.WriteLineAsync("stop");
        await _process.StandardInput.FlushAsync();
        await _process.WaitForExitAsync().WaitAsync(Timeout);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await KillAsync();
            }
        }
        catch (InvalidOperationException)
        {
            // Never started or already gone.
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        lock (_gate)
        {
            if (line is null)
            {
                _exited = true;
                foreach (var (_, found) in _waiters)
                {
                    found.TrySetException(new InvalidOperationException($"The test consumer exited. stderr:\n{_errors}"));
                }

                _waiters.Clear();
                return;
            }

            _lines.Add(line);
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(line))
                {
                    _waiters[i].Found.TrySetResult(line);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
