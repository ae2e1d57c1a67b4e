using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Idem.Redis.Tests;

/// <summary>
/// A redis-server of the test's own on a free loopback port, for what must not happen to the shared one: killing it,
/// restarting it, flushing its script cache, resetting its command statistics. AOF on, fsync on every write
/// (<c>appendfsync always</c>), no RDB snapshots; its files live in a temporary folder removed on dispose.
/// </summary>
internal sealed class PrivateRedis : IAsyncDisposable
{
    public const string ServerPath = "/usr/bin/redis-server";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly string _directory;
    private readonly string[] _settings;
    private Process? _process;

    private PrivateRedis(int port, string directory, string[] settings)
    {
        Port = port;
        _directory = directory;
        _settings = settings;
    }

    public int Port { get; }

    /// <summary>The StackExchange.Redis configuration string for this server.</summary>
    public string Configuration => string.Create(CultureInfo.InvariantCulture, $"127.0.0.1:{Port}");

    /// <summary>Starts a server; <paramref name="settings"/> are further command-line settings (e.g. <c>--rename-command CONFIG ""</c>).</summary>
    public static async Task<PrivateRedis> StartAsync(params string[] settings)
    {
        Assert.True(File.Exists(ServerPath), $"{ServerPath} is missing: eng/provision.sh installs redis-server.");
        var directory = Directory.CreateTempSubdirectory("idem-redis-").FullName;
        var redis = new PrivateRedis(FreePort(), directory, settings);
        try
        {
            await redis.StartAgainAsync();
            return redis;
        }
        catch
        {
            await redis.DisposeAsync();
            throw;
        }
    }

    /// <summary>Starts the server (again) on the same port and folder; it loads what its AOF holds.</summary>
    public async Task StartAgainAsync()
    {
        var start = new ProcessStartInfo(ServerPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in new string[]
        {
            "--port", Port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--protected-mode", "yes",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", _directory, "--daemonize", "no",
        }.Concat(_settings))
        {
            start.ArgumentList.Add(argument);
        }

        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        // Up once it answers PING (a server still loading its AOF answers -LOADING).
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                if (await CommandAsync("PING") == "+PONG")
                {
                    return;
                }
            }
            catch (SocketException)
            {
            }

            Assert.False(_process.HasExited, $"redis-server on port {Port} exited with {(_process.HasExited ? _process.ExitCode : 0)}.");
            Assert.True(deadline.Elapsed < StartTimeout, $"redis-server on port {Port} did not answer PING within {StartTimeout}.");
            await Task.Delay(50);
        }
    }

    /// <summary>SIGKILL: no shutdown, no final write; only what reached the AOF survives.</summary>
    public async Task KillAsync()
    {
        var process = _process!;
        process.Kill();
        await process.WaitForExitAsync().WaitAsync(StartTimeout);
        process.Dispose();
        _process = null;
    }

    /// <summary>A clean stop (<c>SHUTDOWN</c>): Redis flushes the AOF and exits.</summary>
    public async Task ShutdownAsync()
    {
        var process = _process!;
        try
        {
            await CommandAsync("SHUTDOWN");
        }
        catch (Exception ex) when (ex is IOException or SocketException)
        {
            // The server closes the connection as it exits.
        }

        await process.WaitForExitAsync().WaitAsync(StartTimeout);
        process.Dispose();
        _process = null;
    }

    /// <summary>How many times Redis ran <paramref name="command"/> since it started or statistics were reset.</summary>
    public async Task<long> CallsAsync(string command)
    {
        var info = await CommandAsync("INFO", "commandstats");
        var prefix = "cmdstat_" + command.ToLowerInvariant() + ":calls=";
        foreach (var line in info.Split("\r\n"))
        {
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                var end = line.IndexOf(',', prefix.Length);
                return long.Parse(line.AsSpan(prefix.Length, end - prefix.Length), CultureInfo.InvariantCulture);
            }
        }

        return 0;
    }

    /// <summary>Sends one command on a fresh connection and returns the reply: a status or error line, an integer, or a bulk string's text.</summary>
    public async Task<string> CommandAsync(params string[] arguments)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, Port);
        var stream = client.GetStream();
        var request = new StringBuilder().Append(CultureInfo.InvariantCulture, $"*{arguments.Length}\r\n");
        foreach (var argument in arguments)
        {
            request.Append(CultureInfo.InvariantCulture, $"${Encoding.UTF8.GetByteCount(argument)}\r\n{argument}\r\n");
        }

        await stream.WriteAsync(Encoding.UTF8.GetBytes(request.ToString()));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var line = await reader.ReadLineAsync() ?? throw new IOException("Redis closed the connection.");
        if (line[0] != '$')
        {
            return line;
        }

        var length = int.Parse(line.AsSpan(1), CultureInfo.InvariantCulture);
        if (length < 0)
        {
            return "";
        }

        var buffer = new char[length];
        var read = 0;
        while (read < length)
        {
            var n = await reader.ReadAsync(buffer.AsMemory(read));
            if (n == 0)
            {
                throw new IOException("Redis closed the connection mid-reply.");
            }

            read += n;
        }

        return new string(buffer);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is { } process)
        {
            try
            {
                await KillAsync();
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
        }

        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
