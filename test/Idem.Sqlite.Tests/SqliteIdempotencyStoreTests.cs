using Idem.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Sqlite.Tests;

/// <summary>What the SQLite store does beyond the conformance suite: its file, schema, clock and locking.</summary>
public sealed class SqliteIdempotencyStoreTests : IDisposable
{
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    private readonly TempDatabase _database = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2030, 5, 6, 7, 8, 9, 123, TimeSpan.Zero));
    private readonly List<SqliteIdempotencyStore> _stores = [];

    public void Dispose()
    {
        foreach (var store in _stores)
        {
            store.Dispose();
        }

        _database.Dispose();
    }

    [Fact]
    public async Task FirstCall_CreatesTableAndIndexInWalMode()
    {
        var store = CreateSut();

        await store.GetAsync("k");

        Assert.Equal("wal", _database.Scalar<string>("PRAGMA journal_mode;"));
        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'idem_keys';"));
        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'idem_keys_expires_at';"));
    }

    [Fact]
    public async Task CreateSchemaOff_MissingTable_FailsAndCreatesNothing_ButTheFileGoesToWal()
    {
        var store = CreateSut(o => o.CreateSchema = false);

        var error = await Assert.ThrowsAsync<SqliteException>(async () => await store.TryClaimAsync(Request("k")));

        Assert.Contains("no such table", error.Message, StringComparison.Ordinal);
        Assert.Equal(0, _database.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE 'idem_keys%';"));
        Assert.Equal("wal", _database.Scalar<string>("PRAGMA journal_mode;"));
    }

    [Fact]
    public async Task CreateSchemaOff_TableMadeElsewhere_TheStoreRunsOnIt()
    {
        await CreateSut().GetAsync("k"); // the store's own DDL, run by another instance
        var store = CreateSut(o => o.CreateSchema = false);

        var lease = (await store.TryClaimAsync(Request("k"))).Lease!;
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, new IdempotencyResponse(201, [], "done"u8.ToArray())));

        Assert.Equal(ClaimOutcome.Completed, (await store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task TableFromBeforeRecoveryPoints_GainsTheColumnAndKeepsItsRecords()
    {
        // The table as the first release made it, with one in-progress record in it.
        _database.Execute("""
            CREATE TABLE idem_keys (key TEXT NOT NULL PRIMARY KEY, fingerprint TEXT NOT NULL, state INTEGER NOT NULL, owner TEXT NULL,
                created_at INTEGER NOT NULL, lease_expires_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, status INTEGER NULL,
                headers BLOB NULL, body BLOB NULL, body_truncated INTEGER NOT NULL DEFAULT 0);
            INSERT INTO idem_keys VALUES ('old', 'fp', 0, 'owner', 0, 9999999999999, 9999999999999, NULL, NULL, NULL, 0);
            """);
        var store = CreateSut();
        var other = CreateSut();

        var lease = (await store.TryClaimAsync(Request("new"))).Lease!;
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "phase_1"));

        Assert.Equal("phase_1", (await other.GetAsync("new"))!.RecoveryPoint);
        var old = await other.GetAsync("old");
        Assert.NotNull(old);
        Assert.Equal(IdempotencyRecordState.InProgress, old.State);
        Assert.Null(old.RecoveryPoint);
        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM pragma_table_info('idem_keys') WHERE name = 'recovery_point';"));
        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM pragma_table_info('idem_keys') WHERE name = 'member_digest';"));
    }

    [Fact]
    public async Task TableFromBeforeMemberDigests_GainsTheColumnAndItsRecordsMismatchWithoutOne()
    {
        // The table as it was before member digests, with one in-progress record in it.
        _database.Execute("""
            CREATE TABLE idem_keys (key TEXT NOT NULL PRIMARY KEY, fingerprint TEXT NOT NULL, state INTEGER NOT NULL, owner TEXT NULL,
                created_at INTEGER NOT NULL, lease_expires_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, status INTEGER NULL,
                headers BLOB NULL, body BLOB NULL, body_truncated INTEGER NOT NULL DEFAULT 0, recovery_point TEXT NULL);
            INSERT INTO idem_keys VALUES ('old', 'fingerprint', 0, 'owner', 0, 9999999999999, 9999999999999, NULL, NULL, NULL, 0, NULL);
            """);
        var store = CreateSut();
        byte[] digest = [1, 1, 0, (byte)'a', 1, 2, 3, 4, 5, 6, 7, 8];

        var mismatch = await store.TryClaimAsync(Request("old") with { Fingerprint = "other", MemberDigest = digest });
        await store.TryClaimAsync(Request("new") with { MemberDigest = digest });

        Assert.Equal(ClaimOutcome.Mismatch, mismatch.Outcome);
        Assert.True(mismatch.MemberDigest.IsEmpty);
        Assert.True((await store.GetAsync("old"))!.MemberDigest.IsEmpty);
        Assert.Equal(digest, (await store.GetAsync("new"))!.MemberDigest.ToArray());
        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM pragma_table_info('idem_keys') WHERE name = 'member_digest';"));
    }

    [Fact]
    public async Task CustomTableName_IsUsed()
    {
        var store = CreateSut(o => o.TableName = "payments_idempotency");

        await store.TryClaimAsync(Request("k"));

        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM payments_idempotency;"));
        Assert.Equal(0, _database.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'idem_keys';"));
    }

    [Theory]
    [InlineData("")]
    [InlineData("idem keys")]
    [InlineData("idem\"; DROP TABLE x; --")]
    [InlineData("1idem")]
    [InlineData("sqlite_keys")]
    public void Constructor_InvalidTableName_ThrowsOptionsValidationException(string tableName)
    {
        var error = Assert.Throws<OptionsValidationException>(() => CreateSut(o => o.TableName = tableName));
        Assert.Contains(nameof(SqliteStoreOptions.TableName), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_MissingConnectionString_ThrowsOptionsValidationException()
    {
        var error = Assert.Throws<OptionsValidationException>(() => new SqliteIdempotencyStore(new SqliteStoreOptions(), _time, NullLogger<SqliteIdempotencyStore>.Instance));
        Assert.Contains(nameof(SqliteStoreOptions.ConnectionString), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task NewStoreOnExistingFile_ReusesSchemaAndRecords()
    {
        var first = CreateSut();
        var lease = (await first.TryClaimAsync(Request("k"))).Lease!;
        await first.CompleteAsync(lease, Response("kept"));
        first.Dispose();

        var second = CreateSut();
        var replay = await second.TryClaimAsync(Request("k"));

        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        Assert.Equal("kept", System.Text.Encoding.UTF8.GetString(replay.Response!.Body.Span));
    }

    [Fact]
    public async Task Claim_StoresTimesAsUnixMillisecondsFromTheTimeProvider()
    {
        var store = CreateSut();
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();

        await store.TryClaimAsync(Request("k"));

        Assert.Equal(now, _database.Scalar<long>("SELECT created_at FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(now + (long)Lease.TotalMilliseconds, _database.Scalar<long>("SELECT lease_expires_at FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(now + (long)Retention.TotalMilliseconds, _database.Scalar<long>("SELECT expires_at FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(0, _database.Scalar<long>("SELECT state FROM idem_keys WHERE key = 'k';"));
    }

    [Fact]
    public async Task Complete_StoresStatusHeadersAndBodyInTheirColumns()
    {
        var store = CreateSut();
        var lease = (await store.TryClaimAsync(Request("k"))).Lease!;

        await store.CompleteAsync(lease, new IdempotencyResponse(201, [new("Location", "/x/1")], new byte[] { 0, 1, 2 }));

        Assert.Equal(201, _database.Scalar<long>("SELECT status FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(1, _database.Scalar<long>("SELECT state FROM idem_keys WHERE key = 'k';"));
        Assert.Equal("blob", _database.Scalar<string>("SELECT typeof(headers) FROM idem_keys WHERE key = 'k';"));
        Assert.Equal("blob", _database.Scalar<string>("SELECT typeof(body) FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(3, _database.Scalar<long>("SELECT length(body) FROM idem_keys WHERE key = 'k';"));
        Assert.Equal(0, _database.Scalar<long>("SELECT COUNT(*) FROM idem_keys WHERE owner IS NOT NULL;"));
    }

    [Fact]
    public async Task TwoStoresOnOneFile_SeeEachOthersRecords()
    {
        var a = CreateSut();
        var b = CreateSut();
        var lease = (await a.TryClaimAsync(Request("k"))).Lease!;

        Assert.Equal(ClaimOutcome.InProgress, (await b.TryClaimAsync(Request("k"))).Outcome);
        await a.CompleteAsync(lease, Response("from a"));
        Assert.Equal(ClaimOutcome.Completed, (await b.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task ManyStoresOnOneFile_ParallelClaimers_ExactlyOneWins()
    {
        // Four store instances have four write gates: the racers meet only in SQLite's own lock, as separate processes do.
        var stores = Enumerable.Range(0, 4).Select(_ => CreateSut()).ToArray();
        for (var round = 0; round < 10; round++)
        {
            var key = $"k{round}";
            using var start = new ManualResetEventSlim();
            var racers = Enumerable.Range(0, 32).Select(i => Task.Factory.StartNew(
                () =>
                {
                    start.Wait();
                    return stores[i % stores.Length].TryClaimAsync(Request(key)).AsTask().GetAwaiter().GetResult();
                },
                CancellationToken.None,
                TaskCreationOptions.LongRunning,
                TaskScheduler.Default)).ToArray();
            start.Set();
            var results = await Task.WhenAll(racers);

            Assert.Equal(1, results.Count(r => r.Outcome == ClaimOutcome.Claimed));
            Assert.All(results.Where(r => r.Outcome != ClaimOutcome.Claimed), r => Assert.Equal(ClaimOutcome.InProgress, r.Outcome));
        }
    }

    [Fact]
    public async Task BeginTransactional_DuplicateOnAnotherStoreInstance_WaitsOnTheDatabaseLock()
    {
        var a = CreateSut();
        var b = CreateSut();
        var first = await a.BeginTransactionalAsync(Request("k"));

        var duplicate = Task.Run(async () => await b.BeginTransactionalAsync(Request("k")));
        await Task.WhenAny(duplicate, Task.Delay(200));
        Assert.False(duplicate.IsCompleted);

        await first.CommitAsync(Response("first"));
        await first.DisposeAsync();
        await using var second = await duplicate.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(ClaimOutcome.Completed, second.Result.Outcome);
    }

    [Fact]
    public async Task Write_WhileTransactionalClaimHeldPastBusyTimeout_TimesOut()
    {
        var store = CreateSut(o => o.BusyTimeout = TimeSpan.FromMilliseconds(200));
        var other = CreateSut(o => o.BusyTimeout = TimeSpan.FromMilliseconds(200));
        await using var held = await store.BeginTransactionalAsync(Request("held"));

        // The same store queues on its gate; another store (or process) waits in SQLite's busy handler.
        await Assert.ThrowsAsync<TimeoutException>(async () => await store.TryClaimAsync(Request("other")));
        var busy = await Assert.ThrowsAsync<SqliteException>(async () => await other.TryClaimAsync(Request("other")));
        Assert.Equal(5, busy.SqliteErrorCode); // SQLITE_BUSY

        // Reads never wait for the writer.
        Assert.Null(await other.GetAsync("held"));
    }

    [Fact]
    public async Task TransactionalClaim_RollbackThenDispose_ReleasesTheWriteLockOnce()
    {
        var store = CreateSut();
        var claim = await store.BeginTransactionalAsync(Request("k"));

        await claim.RollbackAsync();
        await claim.RollbackAsync();
        await claim.DisposeAsync();

        // Another write goes through at once; a second release of the gate would have thrown SemaphoreFullException.
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request("k"))).Outcome);
        Assert.Null(claim.Transaction);
    }

    [Fact]
    public async Task TransactionalClaim_CommitFailsWhenHandlerDeletedTheRow_RollsEverythingBack()
    {
        var store = CreateSut();
        _database.Execute("CREATE TABLE effects (id TEXT NOT NULL PRIMARY KEY);");
        await using var claim = await store.BeginTransactionalAsync(Request("k"));
        await using (var command = claim.Transaction!.Connection.CreateCommand())
        {
            command.Transaction = claim.Transaction.Transaction;
            command.CommandText = "INSERT INTO effects (id) VALUES ('e'); DELETE FROM idem_keys WHERE key = 'k';";
            await command.ExecuteNonQueryAsync();
        }

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await claim.CommitAsync(Response("x")));

        Assert.Equal(0, _database.Scalar<long>("SELECT COUNT(*) FROM effects;"));
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task Purge_UsesTheExpiryIndex()
    {
        var store = CreateSut();
        await store.GetAsync("k");

        var plan = string.Join(" | ", QueryPlan("SELECT key FROM idem_keys WHERE expires_at < 1 AND (state = 1 OR lease_expires_at < 1) LIMIT 10"));

        Assert.Contains("idem_keys_expires_at", plan, StringComparison.Ordinal);
    }

    private SqliteIdempotencyStore CreateSut(Action<SqliteStoreOptions>? configure = null)
    {
        var options = new SqliteStoreOptions { ConnectionString = _database.ConnectionString };
        configure?.Invoke(options);
        var store = new SqliteIdempotencyStore(options, _time, NullLogger<SqliteIdempotencyStore>.Instance);
        _stores.Add(store);
        return store;
    }

    private List<string> QueryPlan(string sql)
    {
        using var connection = _database.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        using var reader = command.ExecuteReader();
        var rows = new List<string>();
        while (reader.Read())
        {
            rows.Add(reader.GetString(3));
        }

        return rows;
    }

    private static ClaimRequest Request(string key) => new(key, "fingerprint", Lease, Retention);

    private static IdempotencyResponse Response(string body)
        => new(200, [new("Content-Type", "text/plain")], System.Text.Encoding.UTF8.GetBytes(body));
}
