using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Npgsql;

namespace Samples.Tests;

/// <summary>
/// The minimal API sample in a process of its own on a PostgreSQL database of its own, killed while an order's
/// transaction is open: after SaveChanges wrote the row and before Idem committed it with the key and the response. The
/// server rolls the transaction back when the connection dies: nothing of it may be left, and the retry runs once.
/// </summary>
public sealed class KilledBeforeCommit : IAsyncLifetime
{
    private readonly string _database = "idem_sample_killed_" + Guid.NewGuid().ToString("N")[..12];

    private string ConnectionString => new NpgsqlConnectionStringBuilder(OnPostgres.Server) { Database = _database, MaxPoolSize = 10 }.ConnectionString;

    public Task InitializeAsync() => OnPostgres.ExecuteAsync($"CREATE DATABASE {_database}");

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await OnPostgres.ExecuteAsync($"DROP DATABASE IF EXISTS {_database} WITH (FORCE)");
    }

    [Fact]
    public async Task SampleKilledAfterSaveChanges_LeavesNoRowAndNoKey_AndTheRetryRunsOnce()
    {
        var key = Guid.NewGuid().ToString("N");
        await KilledSample.KillDuringAnOrderAsync("Orders.MinimalApi", ConnectionString, key);
        await WaitForTheKilledTransactionToEndAsync();

        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM \"Orders\" WHERE \"Customer\" = $1", key));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM idem_keys WHERE key LIKE '%' || $1", key));

        // The sample started again on the same database: the retry runs as a first execution, once; its retry is replayed.
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(w => w.UseSetting("ConnectionStrings:Orders", ConnectionString));
        using var client = factory.CreateClient();
        using var retry = await client.SendAsync(KilledSample.Order(key, "book"));
        using var again = await client.SendAsync(KilledSample.Order(key, "book"));
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(HttpStatusCode.Created, again.StatusCode);
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountAsync("SELECT COUNT(*) FROM \"Orders\" WHERE \"Customer\" = $1", key));
        Assert.Equal(1, await CountAsync("SELECT COUNT(*) FROM idem_keys WHERE key LIKE '%' || $1", key));
    }

    // The server ends the killed process's session when it finds the connection closed; until then its transaction is
    // open (idle in transaction) and still holds the key's row.
    private async Task WaitForTheKilledTransactionToEndAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (await CountAsync("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND state LIKE 'idle in transaction%'", _database) > 0)
        {
            await Task.Delay(50, timeout.Token);
        }
    }

    private async Task<long> CountAsync(string sql, string value)
    {
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = value });
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
