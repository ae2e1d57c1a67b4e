using System.Diagnostics;
using System.Text;
using Idem.Storage;
using Npgsql;

namespace Idem.Postgres.Tests;

/// <summary>
/// Two sessions on one key, in the style of PostgreSQL's isolation tests: each ordering of claim, complete, release and
/// purge that matters, with the second session's wait on the first one's row observed in <c>pg_stat_activity</c>
/// (<c>wait_event_type = 'Lock'</c>) before the first one moves, never assumed from a sleep. Each session is a store
/// with a data source of its own, as two nodes would be.
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresInterleavingTests(PostgresSchema schema) : IClassFixture<PostgresSchema>, IAsyncLifetime
{
    private const string FingerprintA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private const string FingerprintB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(15);

    private readonly string _table = schema.NewTableName();
    private readonly List<NpgsqlDataSource> _dataSources = [];
    private readonly List<PostgresIdempotencyStore> _stores = [];
    private Session _s1 = null!;
    private Session _s2 = null!;

    public Task InitializeAsync()
    {
        _s1 = CreateSession("s1");
        _s2 = CreateSession("s2");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var store in _stores)
        {
            await store.DisposeAsync();
        }

        foreach (var dataSource in _dataSources)
        {
            await dataSource.DisposeAsync();
        }
    }

    // ---- transactional claim, then a transactional duplicate ----

    [Fact]
    public async Task TxClaimOpen_TxDuplicateWaits_FirstCommits_DuplicateReplays()
    {
        var key = NewKey();
        var response = Response(201, "first");
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, first.Result.Outcome);

        var duplicate = _s2.Store.BeginTransactionalAsync(Request(key)).AsTask();
        await _s2.WaitUntilBlockedAsync(duplicate);

        await first.CommitAsync(response);
        await first.DisposeAsync();

        await using var second = await duplicate.WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Completed, second.Result.Outcome);
        Assert.Null(second.Transaction);
        AssertSameResponse(response, second.Result.Response);
    }

    [Fact]
    public async Task TxClaimOpen_TxDuplicateWaits_FirstRollsBack_DuplicateClaimsAndRunsItself()
    {
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));
        await schema.WriteEffectAsync(first.Transaction!, key + "/first");

        var duplicate = _s2.Store.BeginTransactionalAsync(Request(key)).AsTask();
        await _s2.WaitUntilBlockedAsync(duplicate);

        await first.RollbackAsync();
        await first.DisposeAsync();

        await using (var second = await duplicate.WaitAsync(Deadline))
        {
            Assert.Equal(ClaimOutcome.Claimed, second.Result.Outcome);
            await schema.WriteEffectAsync(second.Transaction!, key + "/second");
            await second.CommitAsync(Response(200, "second"));
        }

        Assert.False(await schema.EffectExistsAsync(key + "/first"));
        Assert.True(await schema.EffectExistsAsync(key + "/second"));
        AssertSameResponse(Response(200, "second"), (await _s1.Store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task TxClaimOpen_TxDuplicateWaitsPastLockTimeout_GetsInProgressAndFirstStillCommits()
    {
        var impatient = CreateSession("s3", o => o.LockTimeout = TimeSpan.FromMilliseconds(300));
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var watch = Stopwatch.StartNew();
        await using (var duplicate = await impatient.Store.BeginTransactionalAsync(Request(key)).AsTask().WaitAsync(Deadline))
        {
            Assert.Equal(ClaimOutcome.InProgress, duplicate.Result.Outcome);
            Assert.Null(duplicate.Transaction);
            Assert.True(duplicate.Result.RetryAfter > TimeSpan.Zero);
        }

        Assert.True(watch.Elapsed >= TimeSpan.FromMilliseconds(250), $"Gave up after {watch.Elapsed}, before the lock timeout.");

        // The duplicate's timeout hurt nobody: the first commits, and everyone replays it.
        await first.CommitAsync(Response(200, "first"));
        await first.DisposeAsync();
        AssertSameResponse(Response(200, "first"), (await impatient.Store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task TxClaimOpen_TxDuplicateWithOtherFingerprintWaits_FirstCommits_DuplicateGetsMismatch()
    {
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var other = _s2.Store.BeginTransactionalAsync(Request(key, FingerprintB)).AsTask();
        await _s2.WaitUntilBlockedAsync(other);
        await first.CommitAsync(Response(200, "first"));
        await first.DisposeAsync();

        await using var second = await other.WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Mismatch, second.Result.Outcome);
        Assert.Null(second.Transaction);
    }

    [Fact]
    public async Task TxClaimOpen_TxDuplicateWithOtherFingerprintWaits_FirstRollsBack_DuplicateClaims()
    {
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var other = _s2.Store.BeginTransactionalAsync(Request(key, FingerprintB)).AsTask();
        await _s2.WaitUntilBlockedAsync(other);
        await first.DisposeAsync();

        await using var second = await other.WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Claimed, second.Result.Outcome);
        await second.CommitAsync(Response(200, "b"));
        Assert.Equal(FingerprintB, (await _s1.Store.GetAsync(key))!.Fingerprint);
    }

    // ---- transactional claim, then a standalone duplicate (and the other way round) ----

    [Fact]
    public async Task TxClaimOpen_StandaloneDuplicateWaits_FirstCommits_DuplicateReplays()
    {
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var duplicate = _s2.Store.TryClaimAsync(Request(key)).AsTask();
        await _s2.WaitUntilBlockedAsync(duplicate);
        await first.CommitAsync(Response(201, "first"));
        await first.DisposeAsync();

        var result = await duplicate.WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Completed, result.Outcome);
        AssertSameResponse(Response(201, "first"), result.Response);
    }

    [Fact]
    public async Task TxClaimOpen_StandaloneDuplicateWaits_FirstRollsBack_DuplicateClaims()
    {
        var key = NewKey();
        var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var duplicate = _s2.Store.TryClaimAsync(Request(key)).AsTask();
        await _s2.WaitUntilBlockedAsync(duplicate);
        await first.RollbackAsync();
        await first.DisposeAsync();

        var result = await duplicate.WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        Assert.Equal(LeaseStatus.Ok, await _s2.Store.CompleteAsync(result.Lease!, Response(200, "standalone")));
    }

    [Fact]
    public async Task TxClaimOpen_StandaloneDuplicatePastLockTimeout_GetsInProgress()
    {
        var impatient = CreateSession("s3", o => o.LockTimeout = TimeSpan.FromMilliseconds(300));
        var key = NewKey();
        await using var first = await _s1.Store.BeginTransactionalAsync(Request(key));

        var result = await impatient.Store.TryClaimAsync(Request(key)).AsTask().WaitAsync(Deadline);

        Assert.Equal(ClaimOutcome.InProgress, result.Outcome);
        Assert.True(result.RetryAfter > TimeSpan.Zero);
    }

    [Fact]
    public async Task StandaloneClaimInProgress_TxDuplicate_AnswersInProgressWithoutWaiting()
    {
        var key = NewKey();
        var lease = (await _s1.Store.TryClaimAsync(Request(key))).Lease!;

        // A committed in-progress row holds no lock: the answer comes from the claim's snapshot at once.
        await using (var duplicate = await _s2.Store.BeginTransactionalAsync(Request(key)).AsTask().WaitAsync(Deadline))
        {
            Assert.Equal(ClaimOutcome.InProgress, duplicate.Result.Outcome);
            Assert.Null(duplicate.Transaction);
        }

        Assert.Equal(LeaseStatus.Ok, await _s1.Store.CompleteAsync(lease, Response(200, "standalone")));
        await using var replay = await _s2.Store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Completed, replay.Result.Outcome);
    }

    // ---- a stale owner against a transactional takeover ----

    [Theory]
    [InlineData("complete")]
    [InlineData("release")]
    [InlineData("renew")]
    public async Task StaleOwnerStep_WaitsOnTxTakeover_TakeoverCommits_StepAffectsNothing(string step)
    {
        var key = NewKey();
        var stale = await ClaimWithExpiredLeaseAsync(_s1, key);
        var takeover = await _s2.Store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, takeover.Result.Outcome);

        var staleStep = RunStep(_s1.Store, step, stale);
        await _s1.WaitUntilBlockedAsync(staleStep);
        await takeover.CommitAsync(Response(201, "takeover"));
        await takeover.DisposeAsync();

        Assert.Equal(LeaseStatus.LeaseLost, await staleStep.WaitAsync(Deadline));
        AssertSameResponse(Response(201, "takeover"), (await _s1.Store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task StaleOwnerComplete_WaitsOnTxTakeover_TakeoverRollsBack_OwnerCompletes()
    {
        var key = NewKey();
        var stale = await ClaimWithExpiredLeaseAsync(_s1, key);
        var takeover = await _s2.Store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, takeover.Result.Outcome);

        var staleComplete = RunStep(_s1.Store, "complete", stale);
        await _s1.WaitUntilBlockedAsync(staleComplete);
        await takeover.RollbackAsync();
        await takeover.DisposeAsync();

        // Nobody took over after all: the late owner's result stands, as in the in-memory store.
        Assert.Equal(LeaseStatus.Ok, await staleComplete.WaitAsync(Deadline));
        AssertSameResponse(Response(200, "complete"), (await _s2.Store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task StandaloneClaims_ClaimReleaseClaim_StaleCompleteAfterwardsLoses()
    {
        var key = NewKey();
        var first = (await _s1.Store.TryClaimAsync(Request(key))).Lease!;
        Assert.Equal(ClaimOutcome.InProgress, (await _s2.Store.TryClaimAsync(Request(key))).Outcome);

        Assert.Equal(LeaseStatus.Ok, await _s1.Store.ReleaseAsync(first));
        var second = await _s2.Store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, second.Outcome);

        Assert.Equal(LeaseStatus.LeaseLost, await _s1.Store.CompleteAsync(first, Response(200, "first")));
        Assert.Equal(LeaseStatus.Ok, await _s2.Store.CompleteAsync(second.Lease!, Response(200, "second")));
        AssertSameResponse(Response(200, "second"), (await _s1.Store.TryClaimAsync(Request(key))).Response);
    }

    // ---- reads and purge never wait on a transaction ----

    [Fact]
    public async Task Replay_WhileAnotherTransactionLocksTheRow_AnswersWithoutWaiting()
    {
        var patient = CreateSession("s3", o => o.LockTimeout = TimeSpan.FromMinutes(1));
        var key = NewKey();
        var lease = (await _s1.Store.TryClaimAsync(Request(key))).Lease!;
        await _s1.Store.CompleteAsync(lease, Response(200, "stored"));

        await using var locker = await PostgresServer.OpenAsync(schema.DataSource);
        await using var transaction = await locker.BeginTransactionAsync();
        await using (var command = new NpgsqlCommand($"SELECT 1 FROM \"{schema.Name}\".\"{_table}\" WHERE key = $1 FOR UPDATE", locker, transaction))
        {
            command.Parameters.Add(new NpgsqlParameter { Value = key });
            await command.ExecuteNonQueryAsync();
        }

        // A replay is a read of the claim's snapshot: it takes no lock, so it answers while the row stays locked.
        for (var i = 0; i < 3; i++)
        {
            var replay = await patient.Store.TryClaimAsync(Request(key)).AsTask().WaitAsync(Deadline);
            Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        }

        await using var txReplay = await patient.Store.BeginTransactionalAsync(Request(key)).AsTask().WaitAsync(Deadline);
        Assert.Equal(ClaimOutcome.Completed, txReplay.Result.Outcome);
        await transaction.RollbackAsync();
    }

    [Fact]
    public async Task Purge_WhileTxClaimsHoldAnExpiredRecordAndANewKey_SkipsBothWithoutWaiting()
    {
        // Two records past retention; a transaction then claims one of them afresh and a new key, and stays open.
        var expiredHeld = NewKey();
        var expiredFree = NewKey();
        var shortLived = TimeSpan.FromMilliseconds(300);
        foreach (var key in new[] { expiredHeld, expiredFree })
        {
            var lease = (await _s1.Store.TryClaimAsync(new ClaimRequest(key, FingerprintA, shortLived, shortLived))).Lease!;
            await _s1.Store.CompleteAsync(lease, Response(200, "old"));
        }

        await WaitForDatabaseClockAsync(shortLived + TimeSpan.FromMilliseconds(100));
        var heldAgain = await _s2.Store.BeginTransactionalAsync(Request(expiredHeld, FingerprintB));
        Assert.Equal(ClaimOutcome.Claimed, heldAgain.Result.Outcome);
        var newKey = NewKey();
        var heldNew = await _s2.Store.BeginTransactionalAsync(Request(newKey));
        Assert.Equal(ClaimOutcome.Claimed, heldNew.Result.Outcome);

        // SKIP LOCKED: the row the open transaction locked is passed over, not waited for; the uncommitted insert is
        // invisible. Only the free expired record goes.
        var purged = await _s1.Store.PurgeAsync(DateTimeOffset.UtcNow.AddMinutes(1), 100).AsTask().WaitAsync(Deadline);
        Assert.Equal(1, purged);

        await heldAgain.CommitAsync(Response(201, "new owner"));
        await heldAgain.DisposeAsync();
        await heldNew.CommitAsync(Response(201, "new key"));
        await heldNew.DisposeAsync();
        Assert.Null(await _s1.Store.GetAsync(expiredFree));
        var record = await _s1.Store.GetAsync(expiredHeld);
        Assert.NotNull(record);
        Assert.Equal(FingerprintB, record.Fingerprint);
        AssertSameResponse(Response(201, "new owner"), record.Response);
        Assert.Equal(IdempotencyRecordState.Completed, (await _s1.Store.GetAsync(newKey))!.State);
    }

    // ---- helpers ----

    private Session CreateSession(string name, Action<PostgresStoreOptions>? configure = null)
    {
        var applicationName = $"{schema.Name}-{name}-{Guid.NewGuid().ToString("N")[..12]}";
        var dataSource = schema.CreateDataSource(4, applicationName);
        _dataSources.Add(dataSource);
        var store = schema.CreateStore(dataSource, o =>
        {
            o.TableName = _table;
            configure?.Invoke(o);
        });
        _stores.Add(store);
        return new Session(store, applicationName, schema);
    }

    private async Task<IdempotencyLease> ClaimWithExpiredLeaseAsync(Session session, string key)
    {
        var shortLease = TimeSpan.FromMilliseconds(300);
        var lease = (await session.Store.TryClaimAsync(new ClaimRequest(key, FingerprintA, shortLease, Retention))).Lease!;
        await WaitForDatabaseClockAsync(shortLease + TimeSpan.FromMilliseconds(100));
        return lease;
    }

    // Waits for the database clock itself (the store's clock) to move on by at least the given time.
    private async Task WaitForDatabaseClockAsync(TimeSpan by)
    {
        var start = await schema.ScalarAsync<DateTime>("SELECT clock_timestamp()");
        await Task.Delay(by);
        while (await schema.ScalarAsync<DateTime>("SELECT clock_timestamp()") - start < by)
        {
            await Task.Delay(10);
        }
    }

    private static Task<LeaseStatus> RunStep(IIdempotencyStore store, string step, IdempotencyLease lease) => step switch
    {
        "complete" => store.CompleteAsync(lease, Response(200, "complete")).AsTask(),
        "release" => store.ReleaseAsync(lease).AsTask(),
        "renew" => store.RenewAsync(lease).AsTask(),
        _ => throw new ArgumentOutOfRangeException(nameof(step)),
    };

    private static string NewKey() => StoreKey.Create("tenant|1", "POST", "/v1/transfers", Guid.NewGuid().ToString("N"));

    private static ClaimRequest Request(string key, string fingerprint = FingerprintA) => new(key, fingerprint, Lease, Retention);

    private static IdempotencyResponse Response(int status, string body)
        => new(status, [new("Content-Type", "text/plain")], Encoding.UTF8.GetBytes(body));

    private static void AssertSameResponse(IdempotencyResponse expected, IdempotencyResponse? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.Headers, actual.Headers);
        Assert.Equal(expected.Body.ToArray(), actual.Body.ToArray());
    }

    private sealed record Session(PostgresIdempotencyStore Store, string ApplicationName, PostgresSchema Schema)
    {
        /// <summary>
        /// Returns once one of this session's backends waits on a lock (the other session's row), failing if
        /// <paramref name="operation"/> finishes first or the wait never shows within the deadline.
        /// </summary>
        public async Task WaitUntilBlockedAsync(Task operation)
        {
            var watch = Stopwatch.StartNew();
            while (watch.Elapsed < Deadline)
            {
                if (operation.IsCompleted)
                {
                    await operation;
                    Assert.Fail($"{ApplicationName} finished instead of waiting for the other session.");
                }

                if (await Schema.ScalarAsync<long>("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", ApplicationName) > 0)
                {
                    return;
                }

                await Task.Delay(5);
            }

            Assert.Fail($"{ApplicationName} was never seen waiting on a lock within {Deadline}.");
        }
    }
}
