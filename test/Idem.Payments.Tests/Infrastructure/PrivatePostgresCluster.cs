using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// A PostgreSQL cluster of the test's own (initdb into a temporary directory, pg_ctl on a free loopback port, trust
/// authentication on loopback only), so a test can stop and restart a server without touching the shared one.
/// <see cref="CreateAsync"/> initialises and starts it. As root (CI), initdb and pg_ctl run as the <c>postgres</c> user, since initdb refuses root. Deleted on dispose.
/// </summary>
internal sealed class PrivatePostgresCluster : IAsyncDisposable
{
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromSeconds(120);

    private readonly string _bin;
    private readonly string _directory;
    private bool _running;

    private PrivatePostgresCluster(string bin, string directory, int port)
    {
        _bin = bin;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    private string DataDirectory => Path.Combine(_directory, "data");

    private static bool IsRoot => Environment.UserName == "root";

    public static async Task<PrivatePostgresCluster> CreateAsync()
    {
        var bin = FindBinaries();
        var directory = Path.Combine(Path.GetTempPath(), "idem-pg-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(directory);
        var cluster = new PrivatePostgresCluster(bin, directory, FreePort());
        try
        {
            if (IsRoot)
            {
                await RunAsync("chown", ["postgres:postgres", directory], asPostgres: false, directory);
            }

            await cluster.RunToolAsync("initdb", "-D", cluster.DataDirectory, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync");
            await cluster.StartAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    /// <summary>A connection string to the cluster's <c>postgres</c> database, as the superuser.</summary>
    public string ConnectionString(int maxPoolSize, string applicationName)
        => new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = Port,
            Username = "postgres",
            Database = "postgres",
            MaxPoolSize = maxPoolSize,
            ApplicationName = applicationName,
            Timeout = 10,
        }.ConnectionString;

    // fsync off: a test cluster need not survive the machine, only its own processes dying, which the OS cache does.
    // Commits stay synchronous, so a commit the client was told about is never lost by the immediate stop.

    /// <summary>Starts the server and waits until it accepts connections (after crash recovery, on a restart).</summary>
    public async Task StartAsync()
    {
        await RunToolAsync("pg_ctl", "-D", DataDirectory, "-l", Path.Combine(_directory, "postgres.log"), "-w", "-t", "60", "-o",
            $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={_directory} -c max_connections=50 -c fsync=off", "start");
        _running = true;
    }

    /// <summary><c>pg_ctl stop -m immediate</c>: every server process quits at once, as in a crash; open transactions are lost.</summary>
    public async Task StopImmediateAsync()
    {
        _running = false;
        await RunToolAsync("pg_ctl", "-D", DataDirectory, "-m", "immediate", "-w", "stop");
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_running)
            {
                await StopImmediateAsync();
            }
        }
        finally
        {
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private Task RunToolAsync(string tool, params string[] arguments) => RunAsync(Path.Combine(_bin, tool), arguments, asPostgres: IsRoot, _directory);

    private static async Task RunAsync(string file, string[] arguments, bool asPostgres, string workingDirectory)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        if (asPostgres)
        {
            foreach (var argument in (string[])["-u", "postgres", "--", file])
            {
                start.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(CommandTimeout);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} exited with {process.ExitCode}:\n{await stdout}\n{await stderr}");
        }
    }

    // The newest installed server (Debian's layout, as eng/provision.sh installs it), or IDEM_TEST_PG_BIN.
    private static string FindBinaries()
    {
        if (Environment.GetEnvironmentVariable("IDEM_TEST_PG_BIN") is { Length: > 0 } configured)
        {
            return configured;
        }

        var found = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "initdb")))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : 0)
                .FirstOrDefault()
            : null;
        return found ?? throw new InvalidOperationException(
            "No PostgreSQL server binaries (initdb, pg_ctl) under /usr/lib/postgresql/<version>/bin. Run eng/provision.sh (it installs postgresql-15), or set IDEM_TEST_PG_BIN.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
