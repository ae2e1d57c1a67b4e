using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>What the database holds for a tenant, read straight from it: the test's independent witness.</summary>
internal sealed record LedgerSnapshot(long Accounts, long Deposits, long Transfers, long Entries, long BalanceTotal, long VersionTotal);

/// <summary>Reads the service's database directly (SQLite file or PostgreSQL database), on connections of its own.</summary>
internal sealed class LedgerProbe(Func<Task<DbConnection>> open)
{
    public static LedgerProbe Sqlite(string databasePath, bool readOnly = true)
    {
        var connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath, Mode = readOnly ? SqliteOpenMode.ReadOnly : SqliteOpenMode.ReadWrite, Pooling = false, DefaultTimeout = 30,
        }.ToString();
        return new LedgerProbe(async () =>
        {
            var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync();
            return connection;
        });
    }

    public static LedgerProbe Postgres(string connectionString)
        => new(async () =>
        {
            var connection = new NpgsqlConnection(connectionString);
            await connection.OpenAsync();
            return connection;
        });

    public async Task<LedgerSnapshot> SnapshotAsync(string tenantId)
    {
        await using var connection = await open();
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
        await using var connection = await open();
        return await ScalarAsync(connection, "SELECT COUNT(*) FROM ledger_entries WHERE account_id = @t", accountId);
    }

    /// <summary>The sum of all entries per currency, over every tenant and account (system accounts included).</summary>
    public async Task<Dictionary<string, long>> EntrySumsByCurrencyAsync()
    {
        await using var connection = await open();
        var sums = new Dictionary<string, long>(StringComparer.Ordinal);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT currency, SUM(amount) FROM ledger_entries GROUP BY currency";
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            sums[reader.GetString(0)] = Int64(reader.GetValue(1));
        }

        return sums;
    }

    /// <summary>
    /// Accounts whose stored balance disagrees with their entries, or whose version moved less than once per entry
    /// (version = 1 + one per entry + one per change of nickname or metadata).
    /// </summary>
    public async Task<List<string>> InconsistentAccountsAsync()
    {
        await using var connection = await open();
        await using var command = connection.CreateCommand();
        command.CommandText = """
            SELECT a.id, a.balance, a.version, COALESCE(SUM(e.amount), 0), COUNT(e.id)
            FROM accounts a LEFT JOIN ledger_entries e ON e.account_id = a.id
            GROUP BY a.id, a.balance, a.version
            HAVING a.balance <> COALESCE(SUM(e.amount), 0) OR a.version < 1 + COUNT(e.id)
            """;
        var bad = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            bad.Add(string.Create(CultureInfo.InvariantCulture,
                $"{reader.GetString(0)}: balance {Int64(reader.GetValue(1))}, version {Int64(reader.GetValue(2))}, entries sum {Int64(reader.GetValue(3))}, count {Int64(reader.GetValue(4))}"));
        }

        return bad;
    }

    /// <summary>Movements (a type and an id: a failed refund's reversal is one of its own) that are not two entries summing to zero.</summary>
    public async Task<long> UnbalancedMovementsAsync()
    {
        await using var connection = await open();
        return await ScalarAsync(connection, "SELECT COUNT(*) FROM (SELECT movement_id FROM ledger_entries GROUP BY movement_type, movement_id HAVING SUM(amount) <> 0 OR COUNT(*) <> 2) AS m");
    }

    /// <summary>Runs one statement (a writer probe only); returns the rows it changed.</summary>
    public async Task<int> ExecuteAsync(string sql, string? parameter = null)
    {
        await using var connection = await open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@t";
            p.Value = parameter;
            command.Parameters.Add(p);
        }

        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>The first column of the first row, as text (null when no row).</summary>
    public async Task<string?> TextAsync(string sql, string? parameter = null)
    {
        await using var connection = await open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@t";
            p.Value = parameter;
            command.Parameters.Add(p);
        }

        return await command.ExecuteScalarAsync() as string;
    }

    /// <summary>The first column of the first row, as bytes (null when no row, or NULL).</summary>
    public async Task<byte[]?> BytesAsync(string sql, string? parameter = null)
    {
        await using var connection = await open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@t";
            p.Value = parameter;
            command.Parameters.Add(p);
        }

        return await command.ExecuteScalarAsync() as byte[];
    }

    public async Task<long> CountAsync(string sql, string? parameter = null)
    {
        await using var connection = await open();
        return await ScalarAsync(connection, sql, parameter);
    }

    /// <summary>Every row of <paramref name="sql"/>, each column as text (null as null).</summary>
    public async Task<List<string?[]>> RowsAsync(string sql)
    {
        await using var connection = await open();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        var rows = new List<string?[]>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            var row = new string?[reader.FieldCount];
            for (var i = 0; i < row.Length; i++)
            {
                row[i] = reader.IsDBNull(i) ? null : Convert.ToString(reader.GetValue(i), CultureInfo.InvariantCulture);
            }

            rows.Add(row);
        }

        return rows;
    }

    private static async Task<long> ScalarAsync(DbConnection connection, string sql, string? parameter = null)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (parameter is not null)
        {
            var p = command.CreateParameter();
            p.ParameterName = "@t";
            p.Value = parameter;
            command.Parameters.Add(p);
        }

        return Int64(await command.ExecuteScalarAsync());
    }

    // SUM over bigint is numeric on PostgreSQL; every count and sum here fits a long.
    private static long Int64(object? value) => Convert.ToInt64(value, CultureInfo.InvariantCulture);
}
