using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;

[assembly: HostingStartup(typeof(Samples.Tests.HangAfterSaveChanges))]

namespace Samples.Tests;

/// <summary>
/// A sample in a process of its own, killed while an order's transaction is open: after SaveChanges wrote the row and
/// before Idem committed it with the key and the response. Linked as source into each sample's test project, where
/// <c>OrdersDb</c> and <c>Order</c> are that sample's.
/// </summary>
internal sealed class KilledSample(Process process) : IDisposable
{
    private readonly List<string> _lines = [];

    public Process Process { get; } = process;

    /// <summary>
    /// Starts <paramref name="sample"/> on a free loopback port with <see cref="HangAfterSaveChanges"/> loaded as a
    /// hosting startup (its only addition), sends an order whose item is "hang" with <paramref name="key"/>, waits until
    /// its row is written and kills the process with the transaction open. The request fails: nothing was answered.
    /// </summary>
    public static async Task KillDuringAnOrderAsync(string sample, string connectionString, string key)
    {
        var address = new Uri($"http://127.0.0.1:{FreePort()}");
        var start = SampleProcess.StartInfo(sample, "--urls", address.ToString(), "--ConnectionStrings:Orders=" + connectionString);
        start.Environment["ASPNETCORE_HOSTINGSTARTUPASSEMBLIES"] = typeof(HangAfterSaveChanges).Assembly.GetName().Name;
        start.Environment["ASPNETCORE_ENVIRONMENT"] = "Production";
        using var running = new KilledSample(Process.Start(start)!);
        try
        {
            await running.WaitForLineAsync("Now listening on");
            using var client = new HttpClient { BaseAddress = address };
            var pending = client.SendAsync(Order(key, "hang"));
            await running.WaitForLineAsync(HangAfterSaveChanges.Marker);
            running.Process.Kill(entireProcessTree: true);
            await running.Process.WaitForExitAsync();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => pending);
        }
        finally
        {
            if (!running.Process.HasExited)
            {
                running.Process.Kill(entireProcessTree: true);
            }
        }
    }

    public static HttpRequestMessage Order(string key, string item)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new { customer = key, item, quantity = 1 }) };
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }

    public void Dispose() => Process.Dispose();

    private async Task WaitForLineAsync(string text)
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// Loaded into the sample's process by <see cref="KilledSample"/> (ASPNETCORE_HOSTINGSTARTUPASSEMBLIES): an order whose
/// item is "hang" has its row written by SaveChanges, says so on standard output, and never returns, so the process is
/// killed with the order's transaction open.
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
