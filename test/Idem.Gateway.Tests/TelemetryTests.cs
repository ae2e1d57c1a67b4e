using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>With <c>OTEL_EXPORTER_OTLP_ENDPOINT</c> set, the gateway exports the engine's and YARP's traces and the engine's metrics.</summary>
[Collection(ProcessTests.Name)]
public sealed class TelemetryTests
{
    [Fact]
    public async Task Post_WithAnOtlpEndpoint_ExportsIdemAndYarpTracesAndIdemMetrics()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var collector = await Upstream.StartAsync("collector");
        await using var gateway = await GatewayNode.StartAsync(new GatewaySetup { Upstream = upstream.Address }, "gateway",
            "--OTEL_EXPORTER_OTLP_ENDPOINT=" + collector.Address.ToString().TrimEnd('/'),
            "--OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
            "--OTEL_METRIC_EXPORT_INTERVAL=500",
            "--OTEL_BSP_SCHEDULE_DELAY=200");

        // OpenTelemetry's standard settings, given as configuration (environment variables work alike).
        var key = Requests.NewKey();
        await gateway.Http.PostAsync("/orders/new", key);
        await gateway.Http.PostAsync("/orders/new", key);

        await WaitForAsync(collector, "/v1/traces", "idem.operation");
        await WaitForAsync(collector, "/v1/traces", "Yarp.ReverseProxy");
        await WaitForAsync(collector, "/v1/metrics", "idem.replays");
    }

    [Fact]
    public async Task Scrape_WithPrometheusEnabled_ShowsTheIdemCountsTheTestCaused()
    {
        await using var upstream = await Upstream.StartAsync();
        await using var gateway = await GatewayNode.StartAsync(new GatewaySetup { Upstream = upstream.Address }, "gateway", "--Telemetry:Prometheus:Enabled=true");
        var key = Requests.NewKey();

        var first = await gateway.Http.PostAsync("/orders/new", key);
        var replay = await gateway.Http.PostAsync("/orders/new", key);
        var reused = await gateway.Http.PostAsync("/orders/new", key, """{"amount":101}""");
        using var response = await gateway.Http.GetAsync("/metrics");
        var scrape = await response.Content.ReadAsStringAsync();

        Assert.Equal((201, true, 422), (first.Status, replay.Replayed, reused.Status));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, Value(scrape, "idem_claims_total"));
        Assert.Equal(1, Value(scrape, "idem_replays_total"));
        Assert.Equal(1, Value(scrape, "idem_mismatches_total"));
        Assert.Null(Value(scrape, "idem_conflicts_total"));

        // ASP.NET Core's requests and HttpClient's calls to the upstream (YARP's) come from their instrumentation.
        Assert.Contains("http_server_request_duration_seconds", scrape, StringComparison.Ordinal);
        Assert.Contains("http_client_request_duration_seconds", scrape, StringComparison.Ordinal);
    }

    // The sample of an unlabelled-or-labelled series: "name{labels} value" or "name value"; null when absent.
    private static double? Value(string scrape, string name)
    {
        var match = System.Text.RegularExpressions.Regex.Match(scrape, "^" + System.Text.RegularExpressions.Regex.Escape(name) + @"(?:\{[^}]*\})? (\S+)",
            System.Text.RegularExpressions.RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : null;
    }

    private static async Task WaitForAsync(Upstream collector, string path, string text)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var seen = await collector.Process.Http.GetFromJsonAsync<JsonElement>($"/_otlp?path={path}&contains={Uri.EscapeDataString(text)}");
            if (seen.GetProperty("found").GetBoolean())
            {
                return;
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(90), $"no {path} export named {text} ({seen.GetProperty("count").GetInt32()} received)");
            await Task.Delay(250);
        }
    }
}
