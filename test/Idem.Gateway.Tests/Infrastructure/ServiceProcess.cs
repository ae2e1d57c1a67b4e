using System.Reflection;
using System.Text.RegularExpressions;
using Idem.Testing;

namespace Idem.Gateway.Tests.Infrastructure;

/// <summary>
/// A real server as a child process on a free loopback port: the gateway or the payments service (<c>dotnet X.dll</c>,
/// ready at the host's "Now listening on" line), or the Python upstream (ready at its "listening on" line).
/// </summary>
internal sealed partial class ServiceProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private readonly ChildProcess _process;

    private ServiceProcess(string name, string path, string[] arguments, Action<System.Diagnostics.ProcessStartInfo> configure)
    {
        Name = name;
        _process = new ChildProcess(name, path, arguments, StartTimeout, configure);
    }

    public string Name { get; }

    public Uri BaseAddress { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public Task Exited => _process.Exited;

    /// <summary>The last lines the process wrote (stdout and stderr), for failure messages.</summary>
    public string Output => _process.Output();

    public static string GatewayPath => BuiltPath("Idem.Gateway.Path");

    public static string PaymentsPath => BuiltPath("Idem.Payments.Path");

    /// <summary>The Python upstream, copied beside the test assembly.</summary>
    public static string UpstreamScriptPath => Path.Combine(AppContext.BaseDirectory, "Infrastructure", "upstream.py");

    /// <summary>Starts <c>dotnet <paramref name="dll"/></c> in <paramref name="workingDirectory"/> (its content root) on a free port.</summary>
    public static Task<ServiceProcess> StartDotnetAsync(string name, string dll, string workingDirectory, params string[] settings)
        => StartAsync(new ServiceProcess(name, dll, ["--urls", "http://127.0.0.1:0", .. settings], start =>
        {
            start.WorkingDirectory = workingDirectory;
            start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
            start.Environment.Remove("ASPNETCORE_URLS");
        }));

    /// <summary>Starts the Python upstream on a free port.</summary>
    public static Task<ServiceProcess> StartUpstreamAsync(string name = "upstream")
        => StartAsync(new ServiceProcess(name, UpstreamScriptPath, ["0"], start =>
        {
            start.FileName = "python3";
            start.Environment["PYTHONUNBUFFERED"] = "1";
        }));

    private static async Task<ServiceProcess> StartAsync(ServiceProcess process)
    {
        try
        {
            process._process.Start();
            var match = Listening().Match(await process._process.WaitForLineAsync(line => Listening().IsMatch(line)));
            process.BaseAddress = new Uri(match.Groups["url"].Success ? match.Groups["url"].Value : "http://127.0.0.1:" + match.Groups["port"].Value + "/");
            process.Http = new HttpClient(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(1) })
            {
                BaseAddress = process.BaseAddress,
                Timeout = TimeSpan.FromSeconds(100),
            };
            return process;
        }
        catch (Exception ex) when (ex is not InvalidOperationException)
        {
            await process.DisposeAsync();
            throw new InvalidOperationException($"{process.Name} did not start.\n{process.Output}", ex);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>SIGTERM: the host's graceful shutdown.</summary>
    public async Task TerminateAsync()
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>SIGKILL: no shutdown, no finally blocks; its sockets just close.</summary>
    public Task KillAsync() => _process.KillAsync();

    public async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        await _process.DisposeAsync();
    }

    private static string BuiltPath(string key) => typeof(ServiceProcess).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value!;

    [GeneratedRegex(@"Now listening on: (?<url>http://\S+)|^listening on (?<port>\d+)$")]
    private static partial Regex Listening();
}
