using System.Net;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Data.Sqlite;

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
        await KilledSample.KillDuringAnOrderAsync("Orders.Mvc", ConnectionString, key);

        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM Orders WHERE Customer = $key", key));
        Assert.Equal(0, await CountAsync("SELECT COUNT(*) FROM idem_keys WHERE key LIKE '%' || $key", key));

        // The sample started again on the same file: the retry runs as a first execution, once.
        await using var factory = new WebApplicationFactory<Program>().WithWebHostBuilder(w => w.UseSetting("ConnectionStrings:Orders", ConnectionString));
        using var retryClient = factory.CreateClient();
        using var retry = await retryClient.SendAsync(KilledSample.Order(key, "book"));
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

    private async Task<long> CountAsync(string sql, string key)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.Parameters.AddWithValue("$key", key);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
