using System.Diagnostics;
using System.Text;
using Xunit;

namespace Idem.Testing;

/// <summary>
/// A built .NET program run as a real child process (<c>dotnet Program.dll args…</c>), for tests that kill it mid-work:
/// keeps its stdout lines (and its stderr for failure messages), waits for a line, writes to its stdin, kills it with
/// SIGKILL. Linked as source into the test projects that need it; each keeps a thin wrapper that knows which program to
/// start and which line means "ready".
/// </summary>
internal sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _description;
    private readonly string _assemblyPath;
    private readonly TimeSpan _timeout;
    private readonly Action<string>? _onOutput;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _errors = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Found)> _waiters = [];
    private readonly TaskCompletionSource _exitedSource = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _exited;

    /// <summary>Prepares (does not start) <c>dotnet <paramref name="assemblyPath"/> <paramref name="arguments"/></c>.</summary>
    /// <param name="description">How messages name the program, e.g. "The test host".</param>
    /// <param name="assemblyPath">The program's built .dll.</param>
    /// <param name="arguments">Its arguments, after the .dll.</param>
    /// <param name="timeout">How long a wait for a line, a kill or an exit may take.</param>
    /// <param name="configure">Changes to the start info (stdin, working directory, environment) before the start.</param>
    /// <param name="onOutput">Called with every line the process writes, stdout and stderr alike.</param>
    public ChildProcess(string description, string assemblyPath, IEnumerable<string> arguments, TimeSpan timeout,
        Action<ProcessStartInfo>? configure = null, Action<string>? onOutput = null)
    {
        _description = description;
        _assemblyPath = assemblyPath;
        _timeout = timeout;
        _onOutput = onOutput;
        var dotnet = Environment.ProcessPath is { } path && Path.GetFileNameWithoutExtension(path) == "dotnet" ? path : "dotnet";
        var start = new ProcessStartInfo(dotnet)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(assemblyPath);
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        configure?.Invoke(start);
        _process = new Process { StartInfo = start, EnableRaisingEvents = true };
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnError(e.Data);
        _process.Exited += (_, _) => _exitedSource.TrySetResult();
    }

    public int Id => _process.Id;

    /// <summary>Completes when the process has exited (killed, stopped or crashed).</summary>
    public Task Exited => _exitedSource.Task;

    /// <summary>Starts the process and reads its output; fails the test if the program was not built.</summary>
    public void Start()
    {
        Assert.True(File.Exists(_assemblyPath), $"{_description} was not built at {_assemblyPath}.");
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>
    /// Starts the process, waits for its "ready" line and returns what <paramref name="onReady"/> makes of that line (a
    /// wrapper, typically); if any of that fails, kills the process and rethrows.
    /// </summary>
    public async Task<T> StartAsync<T>(Func<string, bool> ready, Func<string, T> onReady)
    {
        try
        {
            Start();
            return onReady(await WaitForLineAsync(ready));
        }
        catch
        {
            await DisposeAsync();
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
                return Task.FromException<string>(ExitedException());
            }

            var found = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, found));
            return found.Task.WaitAsync(timeout ?? _timeout);
        }
    }

    /// <summary>The last <paramref name="count"/> lines it wrote to stdout, then what it wrote to stderr: for failure messages.</summary>
    public string Output(int count = 400)
    {
        lock (_gate)
        {
            return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count))) + "\n" + _errors;
        }
    }

    /// <summary>Writes one line to the process's stdin (start it with <c>RedirectStandardInput</c>).</summary>
    public async Task SendAsync(string line)
    {
        await _process.StandardInput.WriteLineAsync(line);
        await _process.StandardInput.FlushAsync();
    }

    /// <summary>Waits for the process to end by itself.</summary>
    public Task WaitForExitAsync() => _process.WaitForExitAsync().WaitAsync(_timeout);

    /// <summary>SIGKILL on Unix: no shutdown, no finally blocks, no rollback by the process itself; its sockets just close.</summary>
    public async Task KillAsync()
    {
        _process.Kill(entireProcessTree: true);
        await WaitForExitAsync();
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

    private InvalidOperationException ExitedException() => new($"{_description} exited. stderr:\n{_errors}");

    private void OnError(string? line)
    {
        lock (_gate)
        {
            _errors.AppendLine(line);
        }

        if (line is not null)
        {
            _onOutput?.Invoke(line);
        }
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
                    found.TrySetException(ExitedException());
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

        _onOutput?.Invoke(line);
    }
}
