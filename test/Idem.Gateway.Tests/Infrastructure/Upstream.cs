using System.Net.Http.Json;
using System.Text.Json;

namespace Idem.Gateway.Tests.Infrastructure;

/// <summary>The Python upstream (upstream.py): what it received and did per key, and its holds.</summary>
internal sealed class Upstream(ServiceProcess process) : IAsyncDisposable
{
    public ServiceProcess Process { get; } = process;

    public Uri Address => Process.BaseAddress;

    public static async Task<Upstream> StartAsync(string name = "upstream") => new(await ServiceProcess.StartUpstreamAsync(name));

    /// <summary>How many requests with <paramref name="key"/> reached it, and how many it executed (a key's repeat is answered as before).</summary>
    public async Task<(int Received, int Executed)> StatsAsync(string? key = null)
    {
        var stats = await Process.Http.GetFromJsonAsync<JsonElement>(key is null ? "/_stats" : "/_stats?key=" + Uri.EscapeDataString(key));
        return (stats.GetProperty("received").GetInt32(), stats.GetProperty("executed").GetInt32());
    }

    /// <summary>Lets the requests sent with <c>X-Hold: <paramref name="name"/></c> answer (and any sent later go straight through).</summary>
    public async Task ReleaseAsync(string name)
    {
        using var response = await Process.Http.PostAsync("/_release/" + name, null);
        response.EnsureSuccessStatusCode();
    }

    /// <summary>Waits until <paramref name="count"/> requests with <paramref name="key"/> have reached it.</summary>
    public async Task WaitForReceivedAsync(string key, int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while ((await StatsAsync(key)).Received < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the upstream did not receive {count} request(s) with key {key} in time");
            await Task.Delay(20);
        }
    }

    public ValueTask DisposeAsync() => Process.DisposeAsync();
}
