using Npgsql;

namespace Idem.PaymentsLoad;

/// <summary>What one statement cost over a window, from <c>pg_stat_statements</c>.</summary>
internal sealed record StatementCost(string Query, long Calls, double TotalMilliseconds, long Rows);

/// <summary>
/// Looks at the service's PostgreSQL database from beside it, on connections of its own: the transfers it holds, its
/// commits, what its sessions are doing, and what its statements cost where <c>pg_stat_statements</c> is loaded.
/// </summary>
internal sealed class PostgresProbe : IAsyncDisposable
{
    /// <summary>The probe's pool, told apart from the service's pools when commands are counted.</summary>
    public const string PoolName = "idem-payments-load-probe";

    /// <summary>The name the service gives its messaging pool (the outbox relay and the statements consumer).</summary>
    public const string MessagingPoolName = "idem-payments-messaging";

    // The service's database, for its rows and statements; and a database beside it for the watching, so the probe's own
    // queries are not counted among the service's commits.
    private readonly NpgsqlDataSource _dataSource;
    private readonly NpgsqlDataSource _observer;
    private readonly string _databaseName;

    /// <param name="connectionString">The service's database.</param>
    /// <param name="observerConnectionString">Another database on the same server, to watch from; null: the service's own.</param>
    public PostgresProbe(string connectionString, string? observerConnectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { MaxPoolSize = 2, ApplicationName = PoolName };
        _databaseName = builder.Database ?? throw new ArgumentException("The connection string names no database.", nameof(connectionString));
        _dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString) { Name = PoolName }.Build();
        var observer = new NpgsqlConnectionStringBuilder(observerConnectionString ?? connectionString) { MaxPoolSize = 2, ApplicationName = PoolName };
        _observer = new NpgsqlDataSourceBuilder(observer.ConnectionString) { Name = PoolName }.Build();
    }

    /// <summary>
    /// Transactions the service's database committed so far, and the WAL flushes (fsync) of the whole server. The server
    /// publishes each session's counts about once a second while it works, so over a window of several seconds under
    /// steady load the lag at both ends cancels out.
    /// </summary>
    public async Task<(long Commits, long WalSyncs)> CountersAsync(CancellationToken cancellationToken)
    {
        await using var command = _observer.CreateCommand("SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = $1), (SELECT wal_sync FROM pg_stat_wal)");
        command.Parameters.Add(new NpgsqlParameter { Value = _databaseName });
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        await reader.ReadAsync(cancellationToken);
        return (reader.GetInt64(0), reader.GetInt64(1));
    }

    public async Task<List<string>> TransferIdsAsync(string tenantId, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("SELECT id FROM transfers WHERE tenant_id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = tenantId });
        var ids = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            ids.Add(reader.GetString(0));
        }

        return ids;
    }

    /// <summary>
    /// Whether this database can see <c>pg_stat_statements</c>: the module must be in the server's
    /// <c>shared_preload_libraries</c>, and creating the extension needs a superuser (a private cluster, not a shared
    /// test server).
    /// </summary>
    public async Task<bool> TryEnableStatementsAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var create = _dataSource.CreateCommand("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
            await create.ExecuteNonQueryAsync(cancellationToken);
            await using var probe = _dataSource.CreateCommand("SELECT count(*) FROM pg_stat_statements");
            await probe.ExecuteScalarAsync(cancellationToken);
            return true;
        }
        catch (PostgresException)
        {
            return false;
        }
    }

    public async Task ResetStatementsAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("SELECT pg_stat_statements_reset(0, d.oid, 0) FROM pg_database d WHERE d.datname = current_database()");
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    /// <summary>This database's statements since the last reset, the costliest first (the probe's own left out).</summary>
    public async Task<List<StatementCost>> ReadStatementsAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand("""
            SELECT s.query, s.calls, s.total_exec_time, s.rows
            FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
            WHERE d.datname = current_database() AND s.query NOT LIKE '%pg_stat%'
            ORDER BY s.total_exec_time DESC
            """);
        var costs = new List<StatementCost>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken);
        while (await reader.ReadAsync(cancellationToken))
        {
            costs.Add(new StatementCost(reader.GetString(0), reader.GetInt64(1), reader.GetDouble(2), reader.GetInt64(3)));
        }

        return costs;
    }

    /// <summary>
    /// Samples <c>pg_stat_activity</c> every <paramref name="interval"/> until <paramref name="stop"/> is cancelled: what
    /// the service's sessions are doing, as the mean number of sessions in each state.
    /// </summary>
    public async Task<SessionProfile> SampleSessionsAsync(TimeSpan interval, CancellationToken stop)
    {
        var counts = new Dictionary<(string Role, string Doing), long>();
        var samples = 0;
        await using var connection = await _observer.OpenConnectionAsync(CancellationToken.None);
        await using var command = new NpgsqlCommand("""
            SELECT state, wait_event_type, wait_event, left(query, 300)
            FROM pg_stat_activity
            WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type = 'client backend' AND application_name <> $2
            """, connection);
        command.Parameters.Add(new NpgsqlParameter { Value = _databaseName });
        command.Parameters.Add(new NpgsqlParameter { Value = PoolName });
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(stop))
            {
                await using (var reader = await command.ExecuteReaderAsync(CancellationToken.None))
                {
                    while (await reader.ReadAsync(CancellationToken.None))
                    {
                        var state = reader.IsDBNull(0) ? "" : reader.GetString(0);
                        var waitType = reader.IsDBNull(1) ? null : reader.GetString(1);
                        var wait = reader.IsDBNull(2) ? null : reader.GetString(2);
                        var query = reader.IsDBNull(3) ? "" : reader.GetString(3);
                        var key = state == "idle" ? (SessionProfile.Either, "idle") : (SessionProfile.RoleOf(query), SessionProfile.Describe(state, waitType, wait));
                        counts[key] = counts.GetValueOrDefault(key) + 1;
                    }
                }

                samples++;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
        }

        return new SessionProfile(samples, counts);
    }

    public async ValueTask DisposeAsync()
    {
        await _dataSource.DisposeAsync();
        await _observer.DisposeAsync();
    }
}

/// <summary>The mean number of the service's sessions in each state over a window, from samples of <c>pg_stat_activity</c>.</summary>
internal sealed record SessionProfile(int Samples, IReadOnlyDictionary<(string Role, string Doing), long> Counts)
{
    public const string Requests = "requests";
    public const string Events = "events";

    /// <summary>An idle session's last statement (often COMMIT) does not tell its pool.</summary>
    public const string Either = "either pool";

    public double Mean(string role, string doing) => Samples == 0 ? 0 : (double)Counts.GetValueOrDefault((role, doing)) / Samples;

    /// <summary>
    /// Which part of the service a session works for, from its current (or last) statement: the outbox relay and the
    /// statements consumer touch the inbox, the statement lines and the outbox (reading it, or marking it published);
    /// a request only ever inserts into the outbox.
    /// </summary>
    public static string RoleOf(string query)
    {
        var events = query.Contains("inbox", StringComparison.Ordinal)
            || query.Contains("statement_lines", StringComparison.Ordinal)
            || query.Contains("pg_try_advisory_xact_lock", StringComparison.Ordinal)
            || (query.Contains("outbox", StringComparison.Ordinal) && !query.TrimStart().StartsWith("INSERT", StringComparison.OrdinalIgnoreCase));
        return events ? Events : Requests;
    }

    public static string Describe(string state, string? waitType, string? wait) => state switch
    {
        "idle in transaction" => "in a transaction, waiting for the service's next statement",
        "idle in transaction (aborted)" => "in a failed transaction",
        "active" when waitType is null => "running",
        "active" when waitType == "Lock" => $"waiting for a lock ({wait})",
        "active" when wait is "WALSync" or "WALWrite" or "WALWriteLock" or "WALInsert" => $"writing or flushing the WAL ({wait})",
        "active" => $"waiting: {waitType}/{wait}",
        _ => state,
    };
}
