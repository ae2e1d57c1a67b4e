using System.Diagnostics;
using System.Reflection;
using System.Text;

namespace Idem.Redis.Tests;

/// <summary>
/// Runs test/Idem.Redis.Tests.Host as a real child process (<c>dotnet Idem.Redis.Tests.Host.dll</c>): one node of a
/// service on Redis. Reads its stdout markers and writes commands to its stdin.
/// </summary>
internal sealed class RedisHostProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _errors = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private bool _exited;

    private RedisHostProcess(Process process)
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

    public Uri BaseAddress { get; private set; } = null!;

    public static string HostPath => typeof(RedisHostProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "Idem.Redis.Tests.Host.Path").Value!;

    public static async Task<RedisHostProcess> StartAsync(string redisConfiguration, string prefix)
    {
        Assert.True(File.Exists(HostPath), $"The Redis test host was not built at {HostPath}.");
        var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new[] { HostPath, "--redis", redisConfiguration, "--prefix", prefix })
        {
            start.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = start };
        var host = new RedisHostProcess(process);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            var listening = await host.WaitForLineAsync(l => l.StartsWith("IDEM-REDISHOST listening ", StringComparison.Ordinal), StartTimeout);
            host.BaseAddress = new Uri(listening["IDEM-REDISHOST listening ".Length..]);
            return host;
        }
        catch
        {
            await host.DisposeAsync();
            throw;
        }
    }

    /// <summary>Completes with the first stdout line that matches; fails if the process ends first or the time runs out.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null)
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
                return Task.FromException<string>(new InvalidOperationException($"The Redis test host exited. stderr:\n{_errors}"));
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task.WaitAsync(timeout ?? StartTimeout);
        }
    }

    /// <summary>Writes one line to the process's stdin.</summary>
    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().WaitAsync(StartTimeout);
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
                    found.TrySetException(new InvalidOperationException($"The Redis test host exited. stderr:\n{_errors}"));
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
