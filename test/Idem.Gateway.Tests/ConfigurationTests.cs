using System.Diagnostics;
using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>Route policies come from YARP's configuration: read at start, refused when unreadable, reloaded without a restart.</summary>
[Collection(ProcessTests.Name)]
public sealed class ConfigurationTests
{
    [Fact]
    public async Task ShippedConfiguration_GuardsOrdersWithAnAnswerTimeout_AndReplays()
    {
        // The appsettings.json that `dotnet run --project src/Idem.Gateway` uses, with only the upstream and store moved.
        await using var upstream = await Upstream.StartAsync();
        var directory = Directory.CreateTempSubdirectory("idem-gateway-tests-").FullName;
        try
        {
            File.Copy(Path.Combine(Path.GetDirectoryName(ServiceProcess.GatewayPath)!, "appsettings.json"), Path.Combine(directory, "appsettings.json"));
            await using var gateway = await ServiceProcess.StartDotnetAsync("The shipped gateway", ServiceProcess.GatewayPath, directory,
                "--ReverseProxy:Clusters:orders:Destinations:upstream:Address=" + upstream.Address,
                "--Gateway:ConnectionString=Data Source=" + Path.Combine(directory, "idem-gateway.db"));
            var key = Requests.NewKey();

            var missing = await gateway.Http.PostAsync("/orders/new", key: null);
            var first = await gateway.Http.PostAsync("/orders/new", key);
            var replay = await gateway.Http.PostAsync("/orders/new", key);

            Assert.Equal(400, missing.Status);
            Assert.Equal((201, false), (first.Status, first.Replayed));
            Assert.True(replay.Replayed);
            Assert.Equal(first.Body, replay.Body);
            Assert.Contains("answer timeout 00:00:30", gateway.Output, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task Reload_RouteMetadataChanges_PolicyFollowsWithoutRestart_AndUnreadableMetadataIsRefused()
    {
        await using var upstream = await Upstream.StartAsync();
        var setup = new GatewaySetup { Upstream = upstream.Address };
        await using var gateway = await GatewayNode.StartAsync(setup);
        var required = await gateway.Http.PostAsync("/orders/new", key: null);

        // An unreadable value: YARP refuses the reload and keeps the routes it has.
        await gateway.ReconfigureAsync((setup with { Metadata = new Dictionary<string, string> { ["Idempotency.Required"] = "maybe" } }).ToJson());
        await Task.Delay(TimeSpan.FromSeconds(2));
        var afterBadReload = await gateway.Http.PostAsync("/orders/new", key: null);

        await gateway.ReconfigureAsync((setup with { Metadata = new Dictionary<string, string> { ["Idempotency.Required"] = "false" } }).ToJson());
        var clock = Stopwatch.StartNew();
        Reply optional;
        while ((optional = await gateway.Http.PostAsync("/orders/new", key: null)).Status == 400)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the gateway did not reload its routes");
            await Task.Delay(100);
        }

        Assert.Equal(400, required.Status);
        Assert.Equal(400, afterBadReload.Status);
        Assert.Equal(201, optional.Status);
        Assert.Contains("Idempotency.Required", gateway.Process.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Idempotency.Lease", "soon")]
    [InlineData("Idempotency.Concurent", "WaitThenReplay")]
    [InlineData("Idempotency.Scope", "Cookie:session")]
    [InlineData("Idempotency.Concurrent", "7")]
    public async Task Start_UnreadableRouteMetadata_FailsNamingTheRouteAndTheKey(string key, string value)
    {
        var setup = new GatewaySetup { Upstream = new Uri("http://127.0.0.1:9/"), Metadata = new Dictionary<string, string> { [key] = value } };

        var output = await GatewayNode.FailToStartAsync(setup.ToJson());

        Assert.Contains("Route 'orders'", output, StringComparison.Ordinal);
        Assert.Contains($"metadata '{key}'", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_RouteWithWaitThenReplay_DuplicateWaitsForTheFirstAndReplaysIt()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var gateway = await GatewayNode.StartAsync(new GatewaySetup
        {
            Upstream = upstream.Address,
            Metadata = new Dictionary<string, string> { ["Idempotency.Concurrent"] = "WaitThenReplay", ["Idempotency.ConcurrentTimeout"] = "00:00:30" },
        });
        var key = Requests.NewKey();
        var hold = "hold-" + key;

        var first = gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
        await upstream.WaitForReceivedAsync(key, 1);
        var duplicates = Enumerable.Range(0, 5).Select(_ => gateway.Http.PostAsync("/orders/new", key)).ToArray();

        // Held for a while: the duplicates are waiting, not answered.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var answeredWhileHeld = duplicates.Count(d => d.IsCompleted);
        await upstream.ReleaseAsync(hold);
        var original = await first;
        var replays = await Task.WhenAll(duplicates);

        Assert.Equal(0, answeredWhileHeld);
        Assert.Equal(201, original.Status);
        Assert.All(replays, r =>
        {
            Assert.True(r.Replayed);
            Assert.Equal(original.Body, r.Body);
        });
        Assert.Equal((1, 1), await upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Post_DefaultSqliteStore_KeepsRecordsAcrossARestart()
    {
        await using var upstream = await Upstream.StartAsync();
        var setup = OnNewSqliteFile(upstream);
        var key = Requests.NewKey();
        Reply first;
        Reply atOnce;
        await using (var gateway = await GatewayNode.StartAsync(setup))
        {
            first = await gateway.Http.PostAsync("/orders/new", key);

            // The answer reached the client only once its record was stored: a retry sent at once is replayed, not a 409.
            atOnce = await gateway.Http.PostAsync("/orders/new", key);
        }

        await using var restarted = await GatewayNode.StartAsync(setup);
        var replay = await restarted.Http.PostAsync("/orders/new", key);

        Assert.Equal(201, first.Status);
        Assert.True(atOnce.Replayed, atOnce.ToString());
        Assert.True(replay.Replayed);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal((1, 1), await upstream.StatsAsync(key));
    }

    [Fact]
    public async Task Terminate_RequestInFlight_FinishesAndItsAnswerIsStored()
    {
        await using var upstream = await Upstream.StartAsync();
        var setup = OnNewSqliteFile(upstream);
        var key = Requests.NewKey();
        var hold = "hold-" + key;
        Reply first;
        await using (var gateway = await GatewayNode.StartAsync(setup))
        {
            var inFlight = gateway.Http.PostAsync("/orders/new", key, configure: Requests.Header("X-Hold", hold));
            await upstream.WaitForReceivedAsync(key, 1);
            await gateway.Process.TerminateAsync();
            await Task.Delay(TimeSpan.FromSeconds(1));
            var exitedWhileInFlight = gateway.Process.Exited.IsCompleted;
            await upstream.ReleaseAsync(hold);
            first = await inFlight;
            await gateway.Process.Exited.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.False(exitedWhileInFlight, "the gateway stopped with a request in flight");
        }

        await using var restarted = await GatewayNode.StartAsync(setup);
        var replay = await restarted.Http.PostAsync("/orders/new", key);

        Assert.Equal(201, first.Status);
        Assert.True(replay.Replayed);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal((1, 1), await upstream.StatsAsync(key));
    }

    private static GatewaySetup OnNewSqliteFile(Upstream upstream)
        => new() { Upstream = upstream.Address, Store = "Sqlite", ConnectionString = "Data Source=" + Path.Combine(Directory.CreateTempSubdirectory("idem-gateway-sqlite-").FullName, "gateway.db") };
}
