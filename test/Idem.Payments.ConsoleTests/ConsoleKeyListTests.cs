using Idem.Payments.ConsoleTests.Infrastructure;
using Microsoft.Data.Sqlite;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>
/// The keys page's list of keys in progress past their lease. Such a record is what a node leaves when it dies mid-request;
/// the test writes it where Idem keeps it (the store key the middleware builds for the tenant), beside one still running.
/// </summary>
[Collection(ConsoleServer.Collection)]
public sealed class ConsoleKeyListTests(ConsoleServer server)
{
    [Fact]
    public async Task Keys_RecordPastItsLease_IsListedOldestFirst_ARunningOneIsNot()
    {
        var tenant = server.NewTenant();
        var now = DateTimeOffset.UtcNow;
        var older = "stalled-old-" + Guid.NewGuid().ToString("N");
        var newer = "stalled-new-" + Guid.NewGuid().ToString("N");
        var running = "running-" + Guid.NewGuid().ToString("N");
        await InsertInProgressAsync(tenant.TenantId, newer, created: now.AddMinutes(-5), leaseEnds: now.AddMinutes(-4));
        await InsertInProgressAsync(tenant.TenantId, older, created: now.AddMinutes(-9), leaseEnds: now.AddMinutes(-8));
        await InsertInProgressAsync(tenant.TenantId, running, created: now.AddSeconds(-5), leaseEnds: now.AddMinutes(5));

        using var session = server.NewSession();
        await session.SignInAsync(tenant.ApiKey);
        var page = await session.GetPageAsync("/console/keys");
        var overdue = page[page.IndexOf("In progress longer than their lease", StringComparison.Ordinal)..];
        Assert.Contains(older, overdue, StringComparison.Ordinal);
        Assert.Contains(newer, overdue, StringComparison.Ordinal);
        Assert.True(overdue.IndexOf(older, StringComparison.Ordinal) < overdue.IndexOf(newer, StringComparison.Ordinal), "oldest first");
        Assert.Contains("owner-token-1", overdue, StringComparison.Ordinal);
        Assert.DoesNotContain(running, page, StringComparison.Ordinal);

        // The search shows the running one with its owner and age.
        var found = await session.GetPageAsync("/console/keys?key=" + running);
        Assert.Contains("<td id=\"key-state\">in progress</td>", found, StringComparison.Ordinal);
        Assert.Contains("owner-token-1", found, StringComparison.Ordinal);
        Assert.Contains("in progress for", found, StringComparison.Ordinal);
    }

    private async Task InsertInProgressAsync(string tenantId, string key, DateTimeOffset created, DateTimeOffset leaseEnds)
    {
        await using var connection = new SqliteConnection("Data Source=" + server.DatabasePath);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO idem_keys (key, fingerprint, state, owner, created_at, lease_expires_at, expires_at)
            VALUES (@key, 'fp', 0, 'owner-token-1', @created, @lease, @expires);
            """;
        command.Parameters.AddWithValue("@key", StoreKey.Create("user:" + tenantId, "POST", "/v1/transfers/", key));
        command.Parameters.AddWithValue("@created", created.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@lease", leaseEnds.ToUnixTimeMilliseconds());
        command.Parameters.AddWithValue("@expires", created.AddHours(24).ToUnixTimeMilliseconds());
        Assert.Equal(1, await command.ExecuteNonQueryAsync());
    }
}
