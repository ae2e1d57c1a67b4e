using System.Text;
using Idem.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Idem.Postgres.Tests;

/// <summary>What the PostgreSQL store does beyond the conformance suite: its schema, clock, round trips and nodes.</summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresIdempotencyStoreTests(PostgresSchema schema) : IClassFixture<PostgresSchema>, IAsyncLifetime
{
    private const string Fingerprint = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    private readonly List<IAsyncDisposable> _disposables = [];
    private readonly List<string> _extraSchemas = [];

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var disposable in Enumerable.Reverse(_disposables))
        {
            await disposable.DisposeAsync();
        }

        foreach (var name in _extraSchemas)
        {
            await schema.ExecuteAsync($"DROP SCHEMA IF EXISTS \"{name}\" CASCADE");
        }
    }

    // ---- schema ----

    [Fact]
    public async Task FirstUse_CreatesTableWithPrimaryKeyAndExpiryIndexOnly()
    {
        var store = CreateSut(out var table);

        await store.GetAsync("k");

        var indexes = await ListAsync($"SELECT indexname FROM pg_indexes WHERE schemaname = '{schema.Name}' AND tablename = '{table}' ORDER BY indexname");
        Assert.Equal([$"{table}_expires_at", $"{table}_pkey"], indexes);
        Assert.Equal("C", await schema.ScalarAsync<string>(
            "SELECT collation_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 AND column_name = 'key'", schema.Name, table));
    }

    [Fact]
    public async Task TableFromBeforeRecoveryPoints_GainsTheColumnAndKeepsItsRecords()
    {
        var table = schema.NewTableName();
        await schema.ExecuteAsync($"""
            CREATE TABLE "{schema.Name}"."{table}" (key text COLLATE "C" NOT NULL PRIMARY KEY, fingerprint text NOT NULL, state smallint NOT NULL,
                owner_token uuid NULL, created_at timestamptz NOT NULL, lease_expires_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
                status integer NULL, headers bytea NULL, body bytea NULL, body_truncated boolean NOT NULL DEFAULT false);
            CREATE INDEX "{table}_expires_at" ON "{schema.Name}"."{table}" (expires_at);
            INSERT INTO "{schema.Name}"."{table}" VALUES ('old', 'fp', 0, gen_random_uuid(), now(), now() + interval '1 hour', now() + interval '1 hour', NULL, NULL, NULL, false);
            """);
        var store = CreateSut(out _, o => o.TableName = table);

        var lease = (await store.TryClaimAsync(Request("new"))).Lease!;
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "phase_1"));

        Assert.Equal("phase_1", (await store.GetAsync("new"))!.RecoveryPoint);
        var old = await store.GetAsync("old");
        Assert.NotNull(old);
        Assert.Equal(IdempotencyRecordState.InProgress, old.State);
        Assert.Null(old.RecoveryPoint);
    }

    [Fact]
    public async Task TableFromBeforeMemberDigests_GainsTheColumnAndItsRecordsMismatchWithoutOne()
    {
        var table = schema.NewTableName();
        await schema.ExecuteAsync($"""
            CREATE TABLE "{schema.Name}"."{table}" (key text COLLATE "C" NOT NULL PRIMARY KEY, fingerprint text NOT NULL, state smallint NOT NULL,
                owner_token uuid NULL, created_at timestamptz NOT NULL, lease_expires_at timestamptz NOT NULL, expires_at timestamptz NOT NULL,
                status integer NULL, headers bytea NULL, body bytea NULL, body_truncated boolean NOT NULL DEFAULT false, recovery_point text NULL);
            CREATE INDEX "{table}_expires_at" ON "{schema.Name}"."{table}" (expires_at);
            INSERT INTO "{schema.Name}"."{table}" VALUES ('old', 'fp', 0, gen_random_uuid(), now(), now() + interval '1 hour', now() + interval '1 hour', NULL, NULL, NULL, false, NULL);
            """);
        var store = CreateSut(out _, o => o.TableName = table);
        byte[] digest = [1, 1, 0, (byte)'a', 1, 2, 3, 4, 5, 6, 7, 8];

        var mismatch = await store.TryClaimAsync(Request("old") with { MemberDigest = digest });
        await store.TryClaimAsync(Request("new") with { MemberDigest = digest });

        Assert.Equal(ClaimOutcome.Mismatch, mismatch.Outcome);
        Assert.True(mismatch.MemberDigest.IsEmpty);
        Assert.True((await store.GetAsync("old"))!.MemberDigest.IsEmpty);
        Assert.Equal(digest, (await store.GetAsync("new"))!.MemberDigest.ToArray());
        Assert.Equal(digest, await schema.ScalarAsync<byte[]>($"SELECT member_digest FROM \"{schema.Name}\".\"{table}\" WHERE key = 'new'"));
    }

    [Fact]
    public async Task FirstUse_MissingSchema_IsCreated()
    {
        var name = schema.Name + "_own";
        _extraSchemas.Add(name);
        var store = Track(new PostgresIdempotencyStore(schema.DataSource, false, new PostgresStoreOptions { Schema = name, TableName = "Keys" }, NullLogger<PostgresIdempotencyStore>.Instance));

        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request("k"))).Outcome);

        // Quoted, so the name keeps its case.
        Assert.Equal(1L, await schema.ScalarAsync<long>($"SELECT count(*) FROM \"{name}\".\"Keys\""));
    }

    [Fact]
    public async Task CreateSchemaOff_MissingTable_FailsWithUndefinedTable()
    {
        var store = CreateSut(out _, o => o.CreateSchema = false);

        var error = await Assert.ThrowsAsync<PostgresException>(async () => await store.TryClaimAsync(Request("k")));

        Assert.Equal(PostgresErrorCodes.UndefinedTable, error.SqlState);
    }

    [Fact]
    public async Task EightStores_CreatingOneSchemaAtOnce_AllSucceed()
    {
        // Eight nodes start together on a database that has neither the schema nor the table, several times over; in
        // odd rounds half of them keep a second table in the same new schema.
        var dataSources = Enumerable.Range(0, 8).Select(i => Track(schema.CreateDataSource(2, $"{schema.Name}-ddl{i}"))).ToArray();
        for (var round = 0; round < 6; round++)
        {
            var name = $"{schema.Name}_ddl{round}";
            _extraSchemas.Add(name);
            var stores = dataSources
                .Select((d, i) => Track(new PostgresIdempotencyStore(d, false, new PostgresStoreOptions { Schema = name, TableName = round % 2 == 1 && i % 2 == 1 ? "other_keys" : "idem_keys" }, NullLogger<PostgresIdempotencyStore>.Instance)))
                .ToArray();

            var results = await Race.RunAsync(1, stores.Length, (_, i) => stores[i].TryClaimAsync(Request($"k{i}")).AsTask());

            Assert.All(results[0], r => Assert.Equal(ClaimOutcome.Claimed, r.Outcome));
            Assert.Equal(round % 2 == 1 ? 4L : 8L, await schema.ScalarAsync<long>($"SELECT count(*) FROM \"{name}\".idem_keys"));
        }
    }

    // ---- clock and columns ----

    [Fact]
    public async Task Claim_TakesItsTimesFromTheDatabaseClock()
    {
        var store = CreateSut(out var table);
        var before = await schema.ScalarAsync<DateTime>("SELECT clock_timestamp()");

        await store.TryClaimAsync(new ClaimRequest("k", Fingerprint, TimeSpan.FromSeconds(90), TimeSpan.FromMinutes(30)));

        var after = await schema.ScalarAsync<DateTime>("SELECT clock_timestamp()");
        var created = await schema.ScalarAsync<DateTime>($"SELECT created_at FROM \"{schema.Name}\".\"{table}\" WHERE key = 'k'");
        Assert.InRange(created, before, after);
        Assert.Equal(TimeSpan.FromSeconds(90), await schema.ScalarAsync<TimeSpan>($"SELECT lease_expires_at - created_at FROM \"{schema.Name}\".\"{table}\" WHERE key = 'k'"));
        Assert.Equal(TimeSpan.FromMinutes(30), await schema.ScalarAsync<TimeSpan>($"SELECT expires_at - created_at FROM \"{schema.Name}\".\"{table}\" WHERE key = 'k'"));
    }

    [Fact]
    public async Task Complete_StoresStatusHeadersAndBodyInTheirColumnsAndDropsTheOwner()
    {
        var store = CreateSut(out var table);
        var lease = (await store.TryClaimAsync(Request("k"))).Lease!;

        await store.CompleteAsync(lease, new IdempotencyResponse(201, [new("Location", "/x/1")], new byte[] { 0, 1, 2 }));

        var where = $"FROM \"{schema.Name}\".\"{table}\" WHERE key = 'k'";
        Assert.Equal(201, await schema.ScalarAsync<int>($"SELECT status {where}"));
        Assert.Equal((short)1, await schema.ScalarAsync<short>($"SELECT state {where}"));
        Assert.Equal(new byte[] { 0, 1, 2 }, await schema.ScalarAsync<byte[]>($"SELECT body {where}"));
        Assert.Equal([new("Location", "/x/1")], IdempotencyResponseCodec.DecodeHeaders(await schema.ScalarAsync<byte[]>($"SELECT headers {where}")));
        Assert.True(await schema.ScalarAsync<bool>($"SELECT owner_token IS NULL {where}"));
    }

    [Fact]
    public async Task Steps_ForeignOwnerToken_AreLeaseLost()
    {
        var store = CreateSut(out _);
        await store.TryClaimAsync(Request("k"));
        var foreign = new IdempotencyLease("k", "not-a-token", Retention, Lease);

        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(foreign, Response("x")));
        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(foreign));
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(foreign with { OwnerToken = Guid.NewGuid().ToString("N") }));
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task Purge_CanUseTheExpiryIndex()
    {
        var store = CreateSut(out var table);
        await store.GetAsync("k");

        await using var connection = await PostgresServer.OpenAsync(schema.DataSource);
        await using var transaction = await connection.BeginTransactionAsync();
        await using var command = new NpgsqlCommand(
            $"SET LOCAL enable_seqscan = off; EXPLAIN {store.Sql.Purge.Replace("$1", "now()", StringComparison.Ordinal).Replace("$2", "100", StringComparison.Ordinal)}",
            connection,
            transaction);
        var plan = new StringBuilder();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                plan.AppendLine(reader.GetString(0));
            }
        }

        Assert.Contains($"{table}_expires_at", plan.ToString(), StringComparison.Ordinal);
    }

    // ---- transactional specifics ----

    [Fact]
    public async Task TransactionalClaim_CommitWhenHandlerDeletedTheRow_ThrowsAndRollsEverythingBack()
    {
        var store = CreateSut(out var table);
        await using var claim = await store.BeginTransactionalAsync(Request("k"));
        await schema.WriteEffectAsync(claim.Transaction!, "deleted-row-effect");
        await using (var command = claim.Transaction!.Connection.CreateCommand())
        {
            command.CommandText = $"DELETE FROM \"{schema.Name}\".\"{table}\" WHERE key = 'k'";
            await command.ExecuteNonQueryAsync();
        }

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await claim.CommitAsync(Response("x")));

        Assert.False(await schema.EffectExistsAsync("deleted-row-effect"));
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task TransactionalClaim_RollbackTwiceThenDispose_GivesTheConnectionBackOnce()
    {
        var dataSource = Track(schema.CreateDataSource(1, $"{schema.Name}-one"));
        var store = CreateSut(out _, dataSource: dataSource);
        var claim = await store.BeginTransactionalAsync(Request("k"));

        await claim.RollbackAsync();
        await claim.RollbackAsync();
        await claim.DisposeAsync();

        // One pooled connection: it is free again, and clean.
        Assert.Null(claim.Transaction);
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request("k"))).Outcome);
    }

    [Fact]
    public async Task TransactionalClaim_RunsAtReadCommittedWithTheStoreLockTimeout()
    {
        var store = CreateSut(out _, o => o.LockTimeout = TimeSpan.FromMilliseconds(1234));
        await using var claim = await store.BeginTransactionalAsync(Request("k"));

        await using var command = claim.Transaction!.Connection.CreateCommand();
        command.CommandText = "SELECT current_setting('transaction_isolation') || ' ' || current_setting('lock_timeout')";

        Assert.Equal("read committed 1234ms", await command.ExecuteScalarAsync());
    }

    [Fact]
    public async Task LockTimeouts_LeaveThePooledConnectionUsable()
    {
        var dataSource = Track(schema.CreateDataSource(1, $"{schema.Name}-lt"));
        var holder = CreateSut(out var table);
        var impatient = CreateSut(out _, o => { o.TableName = table; o.LockTimeout = TimeSpan.FromMilliseconds(100); }, dataSource);
        await using var held = await holder.BeginTransactionalAsync(Request("held"));

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(ClaimOutcome.InProgress, (await impatient.TryClaimAsync(Request("held"))).Outcome);
            await using var tx = await impatient.BeginTransactionalAsync(Request("held"));
            Assert.Equal(ClaimOutcome.InProgress, tx.Result.Outcome);
        }

        // The one connection was given back healthy after each timeout.
        var other = await impatient.TryClaimAsync(Request("other"));
        Assert.Equal(ClaimOutcome.Claimed, other.Outcome);
        Assert.Equal(LeaseStatus.Ok, await impatient.CompleteAsync(other.Lease!, Response("ok")));
    }

    // ---- round trips ----

    [Fact]
    public async Task EachStep_IsOneRoundTrip()
    {
        var target = new NpgsqlConnectionStringBuilder(PostgresServer.ConnectionString);
        var proxy = new RoundTripCountingProxy(target.Host!, target.Port);
        _disposables.Add(proxy);
        var dataSource = Track(NpgsqlDataSource.Create(PostgresServer.ConnectionStringFor(1, $"{schema.Name}-rt", b =>
        {
            b.Host = "127.0.0.1";
            b.Port = proxy.Port;
            b.SslMode = SslMode.Disable;
        })));
        var store = CreateSut(out _, dataSource: dataSource);

        // A claim whose lease has ended, so that the next claim of the key takes it over.
        async Task LapseAsync(string key)
        {
            await store.TryClaimAsync(Request(key) with { LeaseDuration = TimeSpan.FromMilliseconds(50) });
            await Task.Delay(200);
        }

        // Warm up: the schema check, and each statement prepared once on the (single) pooled connection; the full claim
        // (a takeover) too.
        var warm = (await store.TryClaimAsync(Request("warm"))).Lease!;
        await store.RenewAsync(warm);
        await store.SetRecoveryPointAsync(warm, "warm");
        await store.CompleteAsync(warm, Response("warm"));
        await store.TryClaimAsync(Request("warm"));
        await store.ReleaseAsync((await store.TryClaimAsync(Request("warm2"))).Lease!);
        await store.GetAsync("warm");
        await (await store.BeginTransactionalAsync(Request("warm3"))).DisposeAsync();
        await LapseAsync("warm4");
        await store.TryClaimAsync(Request("warm4")); // the full claim, prepared

        var counts = new Dictionary<string, int>();
        async Task<T> Count<T>(string step, Func<Task<T>> run)
        {
            proxy.Reset();
            var result = await run();
            counts[step] = proxy.RoundTrips;
            return result;
        }

        var lease = (await Count("claim", () => store.TryClaimAsync(Request("k")).AsTask())).Lease!;
        await Count("duplicate claim", () => store.TryClaimAsync(Request("k")).AsTask());
        await Count("renew", () => store.RenewAsync(lease).AsTask());
        await Count("recovery point", () => store.SetRecoveryPointAsync(lease, "phase_1").AsTask());
        await Count("complete", () => store.CompleteAsync(lease, Response("done")).AsTask());
        await Count("replay claim", () => store.TryClaimAsync(Request("k")).AsTask());
        await Count("get", () => store.GetAsync("k").AsTask());
        var released = (await store.TryClaimAsync(Request("r"))).Lease!;
        await Count("release", () => store.ReleaseAsync(released).AsTask());
        var claim = await Count("transactional claim", () => store.BeginTransactionalAsync(Request("t")).AsTask());
        await Count("transactional commit", async () => { await claim.CommitAsync(Response("t")); return 0; });
        await claim.DisposeAsync();
        await Count("transactional replay", async () => { await using var replay = await store.BeginTransactionalAsync(Request("t")); return replay.Result.Outcome; });
        await LapseAsync("lapsed");
        var takeover = await Count("takeover claim", () => store.TryClaimAsync(Request("lapsed")).AsTask());
        Assert.Equal(ClaimOutcome.Claimed, takeover.Outcome);

        Assert.Equal(
            new Dictionary<string, int>
            {
                ["claim"] = 1,
                ["duplicate claim"] = 1,
                ["renew"] = 1,
                ["recovery point"] = 1,
                ["complete"] = 1,
                ["replay claim"] = 1,
                ["get"] = 1,
                ["release"] = 1,
                ["transactional claim"] = 1, // BEGIN rides with the claim
                ["transactional commit"] = 2, // the response, then the business transaction's own COMMIT
                ["transactional replay"] = 2, // the claim, then ROLLBACK of the empty transaction
                ["takeover claim"] = 2, // the first try finds the lapsed claim, then the full claim takes it over
            },
            counts);
    }

    // ---- several nodes ----

    [Fact]
    public async Task TwoNodes_64StandaloneClaimersPerRound_ExactlyOneWinsAndAllReplayIt()
    {
        var (a, b) = CreateTwoNodes();
        var keys = Enumerable.Range(0, 30).Select(i => $"race-{i}").ToArray();

        var rounds = await Race.RunAsync(keys.Length, 64, (round, i) => (i % 2 == 0 ? a : b).TryClaimAsync(Request(keys[round])).AsTask());

        for (var round = 0; round < keys.Length; round++)
        {
            var winners = rounds[round].Where(r => r.Outcome == ClaimOutcome.Claimed).ToList();
            Assert.True(winners.Count == 1, $"Round {round}: {winners.Count} claimers won.");
            Assert.All(rounds[round].Where(r => r.Outcome != ClaimOutcome.Claimed), r => Assert.Equal(ClaimOutcome.InProgress, r.Outcome));
            Assert.Equal(LeaseStatus.Ok, await a.CompleteAsync(winners[0].Lease!, Response(keys[round])));
            Assert.Equal(keys[round], Encoding.UTF8.GetString((await b.TryClaimAsync(Request(keys[round]))).Response!.Body.Span));
        }
    }

    [Fact]
    public async Task TwoNodes_64TransactionalClaimersPerRound_ExactlyOneRunsOthersReplay()
    {
        var (a, b) = CreateTwoNodes();
        var keys = Enumerable.Range(0, 10).Select(i => $"tx-race-{i}").ToArray();

        var rounds = await Race.RunAsync(keys.Length, 64, async (round, i) =>
        {
            await using var claim = await (i % 2 == 0 ? a : b).BeginTransactionalAsync(Request(keys[round]));
            if (claim.Result.Outcome == ClaimOutcome.Claimed)
            {
                await schema.WriteEffectAsync(claim.Transaction!, $"{schema.Name}/{keys[round]}/{i}");
                await claim.CommitAsync(Response(keys[round]));
            }

            return claim.Result;
        });

        for (var round = 0; round < keys.Length; round++)
        {
            Assert.Equal(1, rounds[round].Count(r => r.Outcome == ClaimOutcome.Claimed));
            Assert.All(rounds[round].Where(r => r.Outcome != ClaimOutcome.Claimed), r =>
            {
                Assert.Equal(ClaimOutcome.Completed, r.Outcome);
                Assert.Equal(keys[round], Encoding.UTF8.GetString(r.Response!.Body.Span));
            });
            Assert.Equal(1L, await schema.ScalarAsync<long>($"SELECT count(*) FROM \"{schema.Name}\".effects WHERE id LIKE $1", $"{schema.Name}/{keys[round]}/%"));
        }
    }

    // ---- helpers ----

    private (PostgresIdempotencyStore A, PostgresIdempotencyStore B) CreateTwoNodes()
    {
        var a = CreateSut(out var table, dataSource: Track(schema.CreateDataSource(12, $"{schema.Name}-node-a")));
        var b = CreateSut(out _, o => o.TableName = table, Track(schema.CreateDataSource(12, $"{schema.Name}-node-b")));
        return (a, b);
    }

    private PostgresIdempotencyStore CreateSut(out string table, Action<PostgresStoreOptions>? configure = null, NpgsqlDataSource? dataSource = null)
    {
        string? name = null;
        var store = schema.CreateStore(dataSource, o =>
        {
            configure?.Invoke(o);
            name = o.TableName;
        });
        table = name!;
        return Track(store);
    }

    private T Track<T>(T disposable)
        where T : IAsyncDisposable
    {
        _disposables.Add(disposable);
        return disposable;
    }

    private async Task<List<string>> ListAsync(string sql)
    {
        await using var connection = await PostgresServer.OpenAsync(schema.DataSource);
        await using var command = new NpgsqlCommand(sql, connection);
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string>();
        while (await reader.ReadAsync())
        {
            rows.Add(reader.GetString(0));
        }

        return rows;
    }

    private static ClaimRequest Request(string key) => new(key, Fingerprint, Lease, Retention);

    private static IdempotencyResponse Response(string body) => new(200, [new("Content-Type", "text/plain")], Encoding.UTF8.GetBytes(body));
}

/// <summary>Option validation: no server needed.</summary>
public sealed class PostgresStoreOptionsTests
{
    [Theory]
    [InlineData("")]
    [InlineData("idem keys")]
    [InlineData("idem\"; DROP TABLE x; --")]
    [InlineData("1idem")]
    [InlineData("a_table_name_that_is_far_too_long_for_its_index_name_x")]
    public void Constructor_InvalidTableName_ThrowsOptionsValidationException(string tableName)
        => AssertInvalid(o => o.TableName = tableName, nameof(PostgresStoreOptions.TableName));

    [Theory]
    [InlineData("")]
    [InlineData("pg_idem")]
    [InlineData("my-schema")]
    public void Constructor_InvalidSchema_ThrowsOptionsValidationException(string schema)
        => AssertInvalid(o => o.Schema = schema, nameof(PostgresStoreOptions.Schema));

    [Fact]
    public void Constructor_ZeroOrHugeLockTimeout_ThrowsOptionsValidationException()
    {
        AssertInvalid(o => o.LockTimeout = TimeSpan.Zero, nameof(PostgresStoreOptions.LockTimeout));
        AssertInvalid(o => o.LockTimeout = TimeSpan.FromHours(1), nameof(PostgresStoreOptions.LockTimeout));
    }

    private static void AssertInvalid(Action<PostgresStoreOptions> configure, string option)
    {
        var error = Assert.Throws<OptionsValidationException>(() => CreateSut(configure));
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Defaults_ArePublicIdemKeysTenSecondsAndCreateSchema()
    {
        var options = new PostgresStoreOptions();

        Assert.Equal("public", options.Schema);
        Assert.Equal("idem_keys", options.TableName);
        Assert.Equal(TimeSpan.FromSeconds(10), options.LockTimeout);
        Assert.True(options.CreateSchema);
    }

    [Fact]
    public void Sql_QuotesNamesAndSetsTheLockTimeoutInMilliseconds()
    {
        var sql = new PostgresSql("Billing", "Keys", TimeSpan.FromSeconds(2.5));

        Assert.Equal("\"Billing\".\"Keys\"", sql.QualifiedTable);
        Assert.Contains("set_config('lock_timeout', '2500ms', true)", sql.Claim, StringComparison.Ordinal);
        Assert.Contains("INSERT INTO \"Billing\".\"Keys\"", sql.Claim, StringComparison.Ordinal);
    }

    private static PostgresIdempotencyStore CreateSut(Action<PostgresStoreOptions> configure)
    {
        var options = new PostgresStoreOptions();
        configure(options);
        using var dataSource = NpgsqlDataSource.Create("Host=localhost");
        return new PostgresIdempotencyStore(dataSource, false, options, NullLogger<PostgresIdempotencyStore>.Instance);
    }
}
