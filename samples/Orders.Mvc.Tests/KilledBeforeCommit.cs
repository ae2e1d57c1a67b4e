using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

[assembly: HostingStartup(typeof(Samples.Tests.HangAfterSaveChanges))]

namespace Samples.Tests;

/// <summary>
/// The MVC sample in a process of its own, killed while an order's transaction is open: after SaveChanges wrote the
/// row and before Idem committed it with the key and the response. Nothing of it may be left, and the retry runs.
/// </summary>
public sealed class KilledBeforeCommit : IDisposable
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "idem-sample-killed-" + Guid.NewGuid().ToString("N") + ".db");

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path }.ToString();

    [Fact]
    public async Task SampleKilledAfterSaveChanges_LeavesNoRowAndNoKey_AndTheRetryRuns()
    {
        var key = Guid.NewGuid().ToString("N");
        var address = new Uri($"http://127.0.0.1:{FreePort()}");
        using (var sample = StartSample(address))
        {
            try
            {
                await sample.WaitForLineAsync("Now listening on");
                using var client = new HttpClient { BaseAddress = address };
                var pending = client.SendAsync(Order(key, "hang"));
                await sample.WaitForLineAsync(HangAfterSaveChanges.Marker);
                sample.Process.Kill(entireProcessTree: true);
                await sample.Process.WaitForExitAsync();
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => pending);
            }
            finally
            {
                if (!sample.Process.HasExited)
                {
                    sample.Process.Kill(entireProcessTree: true);
                }
            }
        }

        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM Orders WHERE Customer = $key", key));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM idem_keys WHERE key LIKE '%' || $key", key));

        // The sample started again on the same file: the retry runs as a first execution, once.
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(w => w.UseSetting("ConnectionStrings:Orders", ConnectionString));
        using var retryClient = factory.CreateClient();
        using var retry = await retryClient.SendAsync(Order(key, "book"));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountAsync("SELECT COUNT(*) FROM Orders WHERE Customer = $key", key));
    }

    public void Dispose()
    {
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            File.Delete(_path + suffix);
        }
    }

    private static HttpRequestMessage Order(string key, string item)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new { customer = key, item, quantity = 1 }) };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    // The sample's own entry point with this assembly loaded as a hosting startup, so HangAfterSaveChanges is its only
    // addition.
    private Sample StartSample(Uri address)
    {
        var start = SampleProcess.StartInfo("Orders.Mvc", "--urls", address.ToString(), "--ConnectionStrings:Orders=" + ConnectionString);
        start.Environment["ASPNETCORE_HOSTINGSTARTUPASSEMBLIES"] = typeof(HangAfterSaveChanges).Assembly.GetName().Name;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        return new Sample(Process.Start(start)!);
    }

    private async Task<long> CountAsync(string sql, string key)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$key", key);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private sealed class Sample(Process process) : IDisposable
    {
        private readonly List<string> _lines = [];

        public Process Process { get; } = process;

        public async Task WaitForLineAsync(string text)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (await Process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                _lines.Add(line);
                if (line.Contains(text, StringComparison.Ordinal))
                {
                    return;
                }
            }

            Assert.Fail($"The sample exited before '{text}':\n{string.Join("\n", _lines)}\n{await Process.StandardError.ReadToEndAsync()}");
        }

        public void Dispose() => Process.Dispose();
    }
}

/// <summary>
/// Loaded into the sample's process by <see cref="KilledBeforeCommit"/> (ASPNETCORE_HOSTINGSTARTUPASSEMBLIES): an
/// order whose item is "hang" has its row written by SaveChanges, says so on standard output, and never returns, so the
/// process is killed with the order's transaction open.
/// </summary>
public sealed class HangAfterSaveChanges : SaveChangesInterceptor, IHostingStartup
{
    public const string Marker = "hang: the order is written, not committed";

    public void Configure(IWebHostBuilder builder)
        => builder.ConfigureServices(services => services.ConfigureDbContext<OrdersDb>(o => o.AddInterceptors(this)));

    public override async ValueTask<int> SavedChangesAsync(SaveChangesCompletedEventData eventData, int result, CancellationToken cancellationToken = default)
    {
        if (eventData.Context!.ChangeTracker.Entries<Order>().Any(e => e.Entity.Item == "hang"))
        {
            Console.WriteLine(Marker);
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
        }

        return result;
    }
}
