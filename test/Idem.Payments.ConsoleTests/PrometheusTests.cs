using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>
/// The Prometheus scrape endpoint of a fresh service process: the Idem counters show exactly the outcomes this test
/// caused. A process of its own, because OpenTelemetry listens to every meter named Idem in its process.
/// </summary>
public sealed class PrometheusTests
{
    [Fact]
    public async Task Scrape_FreshService_ShowsTheIdemCountsTheTestCaused()
    {
        var database = SqlitePaymentsServer.NewDatabasePath();
        await using var node = await PaymentsProcess.StartAsync("prometheus",
            [.. SqlitePaymentsServer.Arguments(database), .. PaymentsServer.ProcessorArguments(), "--Telemetry:Prometheus:Enabled=true"]);
        try
        {
            var tenant = new TenantClient(node.Http, "sk_test_" + Guid.NewGuid().ToString("N"));
            var account = await tenant.CreateAccountIdAsync();
            var key = TenantClient.NewKey();
            for (var i = 0; i < 3; i++)
            {
                using var deposit = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":100}""", key);
                Assert.Equal(HttpStatusCode.Created, deposit.StatusCode);
            }

            using (var reused = await tenant.PostAsync($"/v1/accounts/{account}/deposits", """{"amount":101}""", key))
            {
                Assert.Equal(HttpStatusCode.UnprocessableEntity, reused.StatusCode);
            }

            // Two claims (the account, the first deposit), two replays, one reused key; no conflict, no store failure.
            var expected = new Dictionary<string, double> { ["idem_claims_total"] = 2, ["idem_replays_total"] = 2, ["idem_mismatches_total"] = 1 };
            string scrape;
            using (var response = await node.Http.GetAsync("/metrics"))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.StartsWith("text/plain", response.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
                scrape = await response.Content.ReadAsStringAsync();
            }

            foreach (var (name, count) in expected)
            {
                Assert.True(Value(scrape, name) == count, $"{name}: expected {count}, scraped {Value(scrape, name)}\n{scrape}");
            }

            Assert.Null(Value(scrape, "idem_conflicts_total"));
            Assert.Null(Value(scrape, "idem_store_failures_total"));
            Assert.Contains("idem_store_duration_seconds_bucket", scrape, StringComparison.Ordinal);
            Assert.Contains("http_server_request_duration_seconds", scrape, StringComparison.Ordinal);
        }
        finally
        {
            SqlitePaymentsServer.DeleteDatabase(database);
        }
    }

    [Fact]
    public async Task Scrape_NotEnabled_Answers401LikeAnyUnknownPath()
    {
        var database = SqlitePaymentsServer.NewDatabasePath();
        await using var node = await PaymentsProcess.StartAsync("no-prometheus", [.. SqlitePaymentsServer.Arguments(database), .. PaymentsServer.ProcessorArguments()]);
        try
        {
            using var response = await node.Http.GetAsync("/metrics");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.DoesNotContain("idem_", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }
        finally
        {
            SqlitePaymentsServer.DeleteDatabase(database);
        }
    }

    // The sample of an unlabelled-or-labelled series: "name{labels} value" or "name value"; null when absent.
    private static double? Value(string scrape, string name)
    {
        var match = Regex.Match(scrape, "^" + Regex.Escape(name) + @"(?:\{[^}]*\})? (\S+)", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : null;
    }
}
