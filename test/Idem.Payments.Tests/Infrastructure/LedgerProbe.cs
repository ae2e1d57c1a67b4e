using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>What the database holds for a tenant, read straight from the file: the test's independent witness.</summary>
internal sealed record LedgerSnapshot(long Accounts, long Deposits, long Transfers, long Entries, long BalanceTotal, long VersionTotal);

/// <summary>Reads the service's SQLite file directly, on a connection of its own.</summary>
internal sealed class LedgerProbe(string databasePath)
{
    private readonly string _connectionString = new SqliteConnectionStringBuilder { DataSource = databasePath, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();

    public async Task<LedgerSnapshot> SnapshotAsync(string tenantId)
    {
        await using var connection = await OpenAsync();
        return new LedgerSnapshot(
            await ScalarAsync(connection, "SELECT COUNT(*) FROM accounts WHERE tenant_id = @t", tenantId),
            await ScalarAsync(connection, "SELECT COUNT(*) FROM deposits WHERE tenant_id = @t", tenantId),
            await ScalarAsync(connection, "SELECT COUNT(*) FROM transfers WHERE tenant_id = @t", tenantId),
            await ScalarAsync(connection, "SELECT COUNT(*) FROM ledger_entries WHERE tenant_id = @t", tenantId),
            await ScalarAsync(connection, "SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE tenant_id = @t", tenantId),
            await ScalarAsync(connection, "SELECT COALESCE(SUM(version), 0) FROM accounts WHERE tenant_id = @t", tenantId));
    }

    public async Task<long> EntryCountAsync(string accountId)
    {
        await using var connection = await OpenAsync();
        return await ScalarAsync(connection, "SELECT COUNT(*) FROM ledger_entries WHERE account_id = @t", accountId);
    }

    /// <summary>The sum of all entries per currency, over every tenant and account (system accounts included).</summary>
    public async Task<Dictionary<string, long>> EntrySumsByCurrencyAsync()
    {
        await using var connection = await OpenAsync();
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT currency, SUM(amount) FROM ledger_entries GROUP BY currency";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            sums[reader.GetString(0)] = reader.GetInt64(1);
        }

        return sums;
    }

    /// <summary>Accounts whose stored balance or version disagrees with their entries (version = 1 + one per entry).</summary>
    public async Task<List<string>> InconsistentAccountsAsync()
    {
        await using var connection = await OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT a.id, a.balance, a.version, COALESCE(SUM(e.amount), 0), COUNT(e.id)
            FROM accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
            GROUP BY a.id, a.balance, a.version
            HAVING a.balance <> COALESCE(SUM(e.amount), 0) OR a.version <> 1 + COUNT(e.id)
            """;
        var bad = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            bad.Add(string.Create(CultureInfo.InvariantCulture, $"{reader.GetString(0)}: balance {reader.GetInt64(1)}, version {reader.GetInt64(2)}, entries sum {reader.GetInt64(3)}, count {reader.GetInt64(4)}"));
        }

        return bad;
    }

    /// <summary>Movements whose entries do not sum to zero.</summary>
    public async Task<long> UnbalancedMovementsAsync()
    {
        await using var connection = await OpenAsync();
        return await ScalarAsync(connection, "SELECT COUNT(*) FROM (SELECT movement_id FROM ledger_entries GROUP BY movement_id HAVING SUM(amount) <> 0 OR COUNT(*) <> 2)");
    }

    public async Task<long> CountAsync(string sql)
    {
        await using var connection = await OpenAsync();
        return await ScalarAsync(connection, sql);
    }

    private async Task<SqliteConnection> OpenAsync()
    {
        var connection = new SqliteConnection(_connectionString);
        await connection.OpenAsync();
        return connection;
    }

    private static async Task<long> ScalarAsync(SqliteConnection connection, string sql, string? parameter = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            command.Parameters.AddWithValue("@t", parameter);
        }

        return Convert.ToInt64(await command.ExecuteScalarAsync(), CultureInfo.InvariantCulture);
    }
}
