using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Idem.Postgres;
using Idem.Redis;
using Idem.Sqlite;
using Idem.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using StackExchange.Redis;

namespace Idem.Benchmarks;

/// <summary>
/// What keeping a running operation's key costs: one <see cref="IIdempotencyStore.RenewAsync"/> of a held lease, which
/// the lease keeper makes every third of the lease (every 10 s with the default 30 s), on each store, against the
/// cheapest round trip to the same server (<c>SELECT 1</c> on a pooled connection, <c>PING</c>). The SQLite file is a
/// temporary one; PostgreSQL (<c>IDEM_TEST_POSTGRES</c>) gets a table of its own, dropped at the end; Redis
/// (<c>IDEM_TEST_REDIS</c>, default 127.0.0.1:6379) a key prefix of its own.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class LeaseRenewalBenchmarks
{
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(2);

    private readonly string _fingerprint = new('a', 64);
    private readonly string _sqlitePath = Path.Combine(Path.GetTempPath(), "idem-bench-" + Guid.NewGuid().ToString("N") + ".db");
    private readonly string _postgresTable = "idem_bench_" + Guid.NewGuid().ToString("N")[..12];
    private InMemoryIdempotencyStore _memory = null!;
    private SqliteIdempotencyStore _sqlite = null!;
    private PostgresIdempotencyStore _postgres = null!;
    private RedisIdempotencyStore _redis = null!;
    private IdempotencyLease _memoryLease = null!;
    private IdempotencyLease _sqliteLease = null!;
    private IdempotencyLease _postgresLease = null!;
    private IdempotencyLease _redisLease = null!;
    private string _sqliteConnection = "";
    private NpgsqlDataSource _dataSource = null!;
    private ConnectionMultiplexer _connection = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _memory = new InMemoryIdempotencyStore(TimeProvider.System);
        _memoryLease = await ClaimAsync(_memory);

        _sqliteConnection = new SqliteConnectionStringBuilder { DataSource = _sqlitePath }.ToString();
        _sqlite = new SqliteIdempotencyStore(new SqliteStoreOptions { ConnectionString = _sqliteConnection }, TimeProvider.System, NullLogger<SqliteIdempotencyStore>.Instance);
        _sqliteLease = await ClaimAsync(_sqlite);

        var postgres = Environment.GetEnvironmentVariable("IDEM_TEST_POSTGRES") is { Length: > 0 } pg
            ? pg
            : throw new InvalidOperationException("IDEM_TEST_POSTGRES is not set (`. artifacts/test-services.env`).");
        _dataSource = NpgsqlDataSource.Create(postgres);
        _postgres = new PostgresIdempotencyStore(_dataSource, ownsDataSource: false, new PostgresStoreOptions { TableName = _postgresTable }, NullLogger<PostgresIdempotencyStore>.Instance);
        _postgresLease = await ClaimAsync(_postgres);

        var redis = Environment.GetEnvironmentVariable("IDEM_TEST_REDIS") is { Length: > 0 } value ? value : "127.0.0.1:6379";
        _connection = await ConnectionMultiplexer.ConnectAsync(redis);
        _redis = new RedisIdempotencyStore(_connection, new RedisStoreOptions { KeyPrefix = "idem-bench:" + Guid.NewGuid().ToString("N")[..8] + ":" }, NullLogger<RedisIdempotencyStore>.Instance);
        _redisLease = await ClaimAsync(_redis);
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        await using (var command = _dataSource.CreateCommand($"DROP TABLE IF EXISTS public.\"{_postgresTable}\""))
        {
            await command.ExecuteNonQueryAsync();
        }

        await _postgres.DisposeAsync();
        await _dataSource.DisposeAsync();
        _sqlite.Dispose();
        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm" })
        {
            File.Delete(_sqlitePath + suffix);
        }

        _connection.Dispose();
    }

    [BenchmarkCategory("InMemory")]
    [Benchmark(Description = "InMemory RenewAsync")]
    public ValueTask<LeaseStatus> InMemoryRenew() => _memory.RenewAsync(_memoryLease);

    [BenchmarkCategory("Sqlite")]
    [Benchmark(Baseline = true, Description = "SQLite SELECT 1 (no Idem)")]
    public async Task<object?> SqliteSelect1()
    {
        await using var connection = new SqliteConnection(_sqliteConnection);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT 1";
        return await command.ExecuteScalarAsync();
    }

    [BenchmarkCategory("Sqlite")]
    [Benchmark(Description = "SQLite RenewAsync")]
    public ValueTask<LeaseStatus> SqliteRenew() => _sqlite.RenewAsync(_sqliteLease);

    [BenchmarkCategory("Postgres")]
    [Benchmark(Baseline = true, Description = "PostgreSQL SELECT 1 (no Idem)")]
    public async Task<object?> PostgresSelect1()
    {
        await using var command = _dataSource.CreateCommand("SELECT 1");
        return await command.ExecuteScalarAsync();
    }

    [BenchmarkCategory("Postgres")]
    [Benchmark(Description = "PostgreSQL RenewAsync")]
    public ValueTask<LeaseStatus> PostgresRenew() => _postgres.RenewAsync(_postgresLease);

    [BenchmarkCategory("Redis")]
    [Benchmark(Baseline = true, Description = "Redis PING (no Idem)")]
    public Task<TimeSpan> RedisPing() => _connection.GetDatabase().PingAsync();

    [BenchmarkCategory("Redis")]
    [Benchmark(Description = "Redis RenewAsync")]
    public ValueTask<LeaseStatus> RedisRenew() => _redis.RenewAsync(_redisLease);

    private async Task<IdempotencyLease> ClaimAsync(IIdempotencyStore store)
    {
        var claim = await store.TryClaimAsync(new ClaimRequest(Guid.NewGuid().ToString("N"), _fingerprint, Lease, Retention));
        return claim.Lease ?? throw new InvalidOperationException($"The benchmark's key was not claimed: {claim.Outcome}.");
    }
}
