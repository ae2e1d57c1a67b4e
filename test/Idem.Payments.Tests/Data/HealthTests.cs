using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Idem.Payments.Tests.Data;

public sealed class HealthTests
{
    [Fact]
    public async Task Healthz_DatabaseGone_Is503WithRetryAfter()
    {
        var directory = Path.Combine(Path.GetTempPath(), "idem-payments-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, "payments.db");
        var app = PaymentsServer.BuildApp(SqlitePaymentsServer.Arguments(path));
        await app.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = PaymentsServer.AddressOf(app) };
            using (var healthy = await http.GetAsync("/healthz"))
            {
                Assert.Equal(HttpStatusCode.OK, healthy.StatusCode);
            }

            // The file's directory goes away: no new connection can open it.
            SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
            using var response = await http.GetAsync("/healthz");

            Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
            Assert.Equal("Unhealthy", await response.Content.ReadAsStringAsync());
            Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"Retry-After: '{response.Headers.RetryAfter}'");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
            SqliteConnection.ClearAllPools();
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
