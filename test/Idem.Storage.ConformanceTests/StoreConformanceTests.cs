using System.Text;
using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The behaviour every <see cref="IIdempotencyStore"/> must show (the in-memory store is the reference). A store's test
/// project inherits this class, says how to make a fresh store and how to move its clock, and runs every test here.
/// </summary>
/// <remarks>
/// Time is expressed in <see cref="Lease"/>, <see cref="Retention"/> and <see cref="Tick"/>. A store on a
/// <see cref="TimeProvider"/> overrides <see cref="AdvanceTimeAsync"/> to advance a <c>FakeTimeProvider</c> and keeps the
/// defaults. A store on a server clock (PostgreSQL, Redis) keeps the real-time default of <see cref="AdvanceTimeAsync"/>
/// and overrides the three durations with short ones (say 2 s, 8 s and 200 ms), keeping
/// <c>Retention &gt;= 3 * Lease</c> and <c>Lease &gt;= 6 * Tick</c>.
/// </remarks>
public abstract partial class StoreConformanceTests
{
    /// <summary>How many claimers race for one key in the concurrency tests.</summary>
    protected const int Racers = 64;

    protected const string FingerprintA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    protected const string FingerprintB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    /// <summary>A fresh store that shares no records with any other test.</summary>
    protected abstract ValueTask<IIdempotencyStore> CreateStoreAsync();

    /// <summary>
    /// Moves the store's clock forward. The default waits in real time, which suits stores on a server clock; stores on
    /// a <see cref="TimeProvider"/> advance their fake clock instead.
    /// </summary>
    /// <remarks>
    /// Timers run on a coarse clock (on Linux a few milliseconds per step), so a delay can end a little before its
    /// time by a precise one, and a server's clock is precise: the wait goes on until a stopwatch has seen all of it.
    /// </remarks>
    protected virtual async Task AdvanceTimeAsync(TimeSpan by)
    {
        var waited = System.Diagnostics.Stopwatch.StartNew();
        await Task.Delay(by);
        while (waited.Elapsed < by)
        {
            await Task.Delay(1);
        }
    }

    /// <summary>The store's current time, as passed to <see cref="IIdempotencyStore.PurgeAsync"/>.</summary>
    protected virtual DateTimeOffset StoreNow => DateTimeOffset.UtcNow;

    /// <summary>The lease duration claims use.</summary>
    protected virtual TimeSpan Lease => TimeSpan.FromMinutes(1);

    /// <summary>The retention claims use.</summary>
    protected virtual TimeSpan Retention => TimeSpan.FromMinutes(10);

    /// <summary>A step of time clearly larger than the clock's resolution and a store call's duration.</summary>
    protected virtual TimeSpan Tick => TimeSpan.FromSeconds(1);

    /// <summary>How many rounds each race test runs.</summary>
    protected virtual int RaceRounds => 50;

    // ---- claim, complete, replay ----

    [Fact]
    public async Task TryClaim_NewKey_ReturnsClaimedWithLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        Assert.NotNull(result.Lease);
        Assert.Equal(key, result.Lease.StoreKey);
        Assert.False(string.IsNullOrEmpty(result.Lease.OwnerToken));
        Assert.Equal(Lease, result.Lease.LeaseDuration);
        Assert.Equal(Retention, result.Lease.Retention);
        Assert.Null(result.Response);
    }

    [Fact]
    public async Task TryClaim_TwoClaims_GetDistinctOwnerTokens()
    {
        var store = await CreateStoreAsync();

        var first = await store.TryClaimAsync(Request(NewKey()));
        var second = await store.TryClaimAsync(Request(NewKey()));

        Assert.NotEqual(first.Lease!.OwnerToken, second.Lease!.OwnerToken);
    }

    [Fact]
    public async Task TryClaim_AfterComplete_ReplaysStatusHeadersAndBody()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = new IdempotencyResponse(
            201,
            [Header("Location", "/v1/transfers/42"), Header("Content-Type", "application/json"), Header("X-Trace", "b"), Header("X-Trace", "a")],
            "{\"id\":42}"u8.ToArray());

        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, response));
        var replay = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        Assert.Null(replay.Lease);
        AssertSameResponse(response, replay.Response);
    }

    [Fact]
    public async Task TryClaim_ManyReplays_NeverDisturbTheRecord()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = Response(200, "once");
        await store.CompleteAsync(lease, response);

        for (var i = 0; i < 5; i++)
        {
            var replay = await store.TryClaimAsync(Request(key));
            Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
            AssertSameResponse(response, replay.Response);
        }

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.Completed, record.State);
        AssertSameResponse(response, record.Response);
    }

    [Fact]
    public async Task TryClaim_OtherKey_IsIndependent()
    {
        var store = await CreateStoreAsync();
        await ClaimAsync(store, NewKey());

        var other = await store.TryClaimAsync(Request(NewKey(), FingerprintB));

        Assert.Equal(ClaimOutcome.Claimed, other.Outcome);
    }

    [Theory]
    [InlineData("", "fingerprint", 60, 60)]
    [InlineData("key", "", 60, 60)]
    [InlineData("key", null, 60, 60)]
    [InlineData("key", "fingerprint", 0, 60)]
    [InlineData("key", "fingerprint", 60, -1)]
    public async Task TryClaim_InvalidRequest_ThrowsAndStoresNothing(string storeKey, string? fingerprint, int leaseSeconds, int retentionSeconds)
    {
        var store = await CreateStoreAsync();
        var key = storeKey.Length == 0 ? storeKey : NewKey();
        var request = new ClaimRequest(key, fingerprint!, TimeSpan.FromSeconds(leaseSeconds), TimeSpan.FromSeconds(retentionSeconds));

        await Assert.ThrowsAnyAsync<ArgumentException>(async () => await store.TryClaimAsync(request));

        if (key.Length > 0)
        {
            Assert.Null(await store.GetAsync(key));
        }
    }

    [Fact]
    public async Task TryClaim_CancelledToken_Throws()
    {
        var store = await CreateStoreAsync();
        using var cancelled = new CancellationTokenSource();
        await cancelled.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await store.TryClaimAsync(Request(NewKey()), cancelled.Token));
    }

    // ---- mismatch and in progress ----

    [Fact]
    public async Task TryClaim_DifferentFingerprintWhileInProgress_ReturnsMismatch()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);

        var result = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        Assert.Null(result.Lease);
        Assert.Null(result.Response);
    }

    [Fact]
    public async Task TryClaim_DifferentFingerprintAfterCompletion_ReturnsMismatch()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await store.CompleteAsync(lease, Response(200, "done"));

        var result = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        Assert.Null(result.Response);
    }

    [Fact]
    public async Task TryClaim_DifferentFingerprintAfterLeaseExpired_ReturnsMismatchNotTakeover()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);

        var result = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, Response(200, "first")));
    }

    [Fact]
    public async Task TryClaim_SameFingerprintWhileInProgress_ReturnsInProgressWithRetryAfterWithinLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.InProgress, result.Outcome);
        Assert.Null(result.Lease);
        Assert.True(result.RetryAfter > TimeSpan.Zero, $"RetryAfter {result.RetryAfter} should be positive.");
        Assert.True(result.RetryAfter <= Lease, $"RetryAfter {result.RetryAfter} should be at most the lease {Lease}.");
    }

    [Fact]
    public async Task TryClaim_InProgressLaterInLease_RetryAfterShrinks()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease / 2);

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.InProgress, result.Outcome);
        Assert.True(result.RetryAfter > TimeSpan.Zero, $"RetryAfter {result.RetryAfter} should be positive.");
        // A store on a server clock counts whole milliseconds, and truncating both ends can give one back.
        Assert.True(result.RetryAfter <= Lease / 2 + TimeSpan.FromMilliseconds(2), $"RetryAfter {result.RetryAfter} should be at most half the lease.");
    }

    // ---- retention ----

    [Fact]
    public async Task TryClaim_CompletedPastRetention_ClaimsAsNewKey()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await store.CompleteAsync(lease, Response(200, "old"));
        await AdvanceTimeAsync(Retention + Tick);

        var result = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(FingerprintB, record.Fingerprint);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Null(record.Response);
    }

    [Fact]
    public async Task TryClaim_CompletedWithinRetention_StillReplays()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = Response(200, "kept");
        await store.CompleteAsync(lease, response);
        await AdvanceTimeAsync(Retention - (2 * Tick));

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Completed, result.Outcome);
        AssertSameResponse(response, result.Response);
    }

    [Fact]
    public async Task TryClaim_AbandonedPastRetention_ClaimsForAnyFingerprint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Retention + Tick);

        var result = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(stale, Response(200, "stale")));
    }

    [Fact]
    public async Task Complete_RetentionCountsFromCompletion()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease / 2);
        await store.CompleteAsync(lease, Response(200, "late"));
        await AdvanceTimeAsync(Retention - Tick);

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Completed, result.Outcome);
    }

    [Fact]
    public async Task Get_PastRetention_ReturnsNull()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await store.CompleteAsync(lease, Response(200, "gone soon"));
        await AdvanceTimeAsync(Retention + Tick);

        Assert.Null(await store.GetAsync(key));
    }

    [Fact]
    public async Task Get_MissingKey_ReturnsNull()
    {
        var store = await CreateStoreAsync();

        Assert.Null(await store.GetAsync(NewKey()));
    }

    [Fact]
    public async Task Get_InProgress_ReturnsRecordWithLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var before = StoreNow;
        await ClaimAsync(store, key);
        var after = StoreNow;

        var record = await store.GetAsync(key);

        Assert.NotNull(record);
        Assert.Equal(key, record.StoreKey);
        Assert.Equal(FingerprintA, record.Fingerprint);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Null(record.Response);
        Assert.NotNull(record.LeaseExpiresAt);
        AssertBetween(before + Lease - Tick, after + Lease + Tick, record.LeaseExpiresAt.Value);
        AssertBetween(before - Tick, after + Tick, record.CreatedAt);
        Assert.True(record.ExpiresAt >= record.LeaseExpiresAt.Value, "A record must not expire while its lease runs.");
    }

    [Fact]
    public async Task Get_Completed_ReturnsRecordWithResponse()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = Response(202, "accepted");
        var before = StoreNow;
        await store.CompleteAsync(lease, response);
        var after = StoreNow;

        var record = await store.GetAsync(key);

        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.Completed, record.State);
        Assert.Equal(FingerprintA, record.Fingerprint);
        Assert.Null(record.LeaseExpiresAt);
        AssertBetween(before + Retention - Tick, after + Retention + Tick, record.ExpiresAt);
        AssertSameResponse(response, record.Response);
    }

    // ---- leases ----

    [Fact]
    public async Task TryClaim_LeaseExpiredSameFingerprint_TakesOver()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var first = await ClaimAsync(store, key);
        var created = (await store.GetAsync(key))!.CreatedAt;
        await AdvanceTimeAsync(Lease + Tick);

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        Assert.NotEqual(first.OwnerToken, result.Lease!.OwnerToken);
        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Equal(created, record.CreatedAt);
        Assert.True(record.LeaseExpiresAt > StoreNow, "The new owner's lease runs from the takeover.");
    }

    [Fact]
    public async Task Complete_StaleOwnerAfterTakeover_ReturnsLeaseLostAndKeepsNewOwnersRecord()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await ClaimAsync(store, key);

        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(stale, Response(200, "stale")));

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Null(record.Response);
        var mine = Response(201, "owner");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(owner, mine));
        AssertSameResponse(mine, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Release_StaleOwnerAfterTakeover_ReturnsLeaseLostAndKeepsNewOwnersRecord()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await ClaimAsync(store, key);

        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(stale));

        var inProgress = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.InProgress, inProgress.Outcome);
        var mine = Response(201, "owner");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(owner, mine));
        AssertSameResponse(mine, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Renew_StaleOwnerAfterTakeover_ReturnsLeaseLostAndKeepsNewOwnersLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await ClaimAsync(store, key);
        var leaseBefore = (await store.GetAsync(key))!.LeaseExpiresAt;

        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(stale));

        Assert.Equal(leaseBefore, (await store.GetAsync(key))!.LeaseExpiresAt);
        var mine = Response(201, "owner");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(owner, mine));
        AssertSameResponse(mine, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Complete_StaleOwnerAfterNewOwnerCompleted_ReturnsLeaseLostAndKeepsResponse()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await ClaimAsync(store, key);
        var mine = Response(200, "owner");
        await store.CompleteAsync(owner, mine);

        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(stale, Response(500, "stale")));
        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(stale));
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(stale));

        AssertSameResponse(mine, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Complete_OwnerPastLeaseWithoutTakeover_Succeeds()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var response = Response(200, "late but alone");

        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, response));

        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Complete_Twice_SecondReturnsLeaseLostAndKeepsFirstResponse()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var first = Response(200, "first");

        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, first));
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(lease, Response(200, "second")));

        AssertSameResponse(first, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Release_Owner_DeletesSoNextClaimIsClaimed()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);

        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));

        Assert.Null(await store.GetAsync(key));
        var retry = await store.TryClaimAsync(Request(key, FingerprintB));
        Assert.Equal(ClaimOutcome.Claimed, retry.Outcome);
    }

    [Fact]
    public async Task Release_AfterRelease_ReturnsLeaseLost()
    {
        var store = await CreateStoreAsync();
        var lease = await ClaimAsync(store, NewKey());
        await store.ReleaseAsync(lease);

        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(lease));
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(lease, Response(200, "after release")));
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(lease));
    }

    [Fact]
    public async Task Release_AfterComplete_ReturnsLeaseLostAndKeepsResponse()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = Response(200, "done");
        await store.CompleteAsync(lease, response);

        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(lease));
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(lease));

        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Renew_Owner_ExtendsLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var before = (await store.GetAsync(key))!.LeaseExpiresAt!.Value;
        var twoThirds = Lease * 2 / 3;
        await AdvanceTimeAsync(twoThirds);

        Assert.Equal(LeaseStatus.Ok, await store.RenewAsync(lease));
        await AdvanceTimeAsync(twoThirds);

        // Past the original lease, within the renewed one.
        var duplicate = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.InProgress, duplicate.Outcome);
        Assert.True(duplicate.RetryAfter > TimeSpan.Zero);
        var after = (await store.GetAsync(key))!.LeaseExpiresAt!.Value;
        Assert.True(after >= before + twoThirds - Tick, $"Lease should move from {before:O} by about {twoThirds}, is {after:O}.");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, Response(200, "renewed")));
    }

    [Fact]
    public async Task Renew_AfterRenewedLeaseExpires_AllowsTakeover()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease / 2);
        await store.RenewAsync(lease);
        await AdvanceTimeAsync(Lease + Tick);

        var result = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(lease));
    }

    [Fact]
    public async Task Renew_PastRetention_KeepsRecordAliveWhileLeaseRuns()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key, new ClaimRequest(key, FingerprintA, Lease, Lease));
        await AdvanceTimeAsync(Lease * 2 / 3);
        await store.RenewAsync(lease);
        await AdvanceTimeAsync(Lease * 2 / 3);

        // The original retention (one lease from the claim) has passed, but the renewed lease still runs.
        Assert.Equal(0, await store.PurgeAsync(StoreNow, 100));
        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Equal(ClaimOutcome.Mismatch, (await store.TryClaimAsync(Request(key, FingerprintB))).Outcome);
    }

    // ---- purge ----

    [Fact]
    public async Task Purge_RemovesOnlyExpiredRecords()
    {
        var store = await CreateStoreAsync();
        var expiredCompleted = NewKey();
        var expiredAbandoned = NewKey();
        await store.CompleteAsync(await ClaimAsync(store, expiredCompleted), Response(200, "old"));
        await ClaimAsync(store, expiredAbandoned);
        await AdvanceTimeAsync(Retention + Tick);

        var freshCompleted = NewKey();
        var inFlight = NewKey();
        var abandonedWithinRetention = NewKey();
        await store.CompleteAsync(await ClaimAsync(store, freshCompleted), Response(200, "new"));
        await ClaimAsync(store, abandonedWithinRetention);
        await AdvanceTimeAsync(Lease + Tick);
        await ClaimAsync(store, inFlight);

        var purged = await store.PurgeAsync(StoreNow, 100);

        Assert.Equal(2, purged);
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request(expiredCompleted, FingerprintB))).Outcome);
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request(expiredAbandoned, FingerprintB))).Outcome);
        Assert.Equal(IdempotencyRecordState.Completed, (await store.GetAsync(freshCompleted))!.State);
        Assert.Equal(IdempotencyRecordState.InProgress, (await store.GetAsync(inFlight))!.State);
        Assert.Equal(IdempotencyRecordState.InProgress, (await store.GetAsync(abandonedWithinRetention))!.State);
    }

    [Fact]
    public async Task Purge_InFlightRecordWithRunningLease_IsNeverDeleted()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();

        // Retention shorter than the lease: the record must still live as long as its lease runs.
        await ClaimAsync(store, key, new ClaimRequest(key, FingerprintA, Lease, Lease / 4));
        await AdvanceTimeAsync(Lease / 2);

        Assert.Equal(0, await store.PurgeAsync(StoreNow, 100));
        Assert.NotNull(await store.GetAsync(key));
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(key))).Outcome);

        await AdvanceTimeAsync(Lease);
        Assert.Equal(1, await store.PurgeAsync(StoreNow, 100));
        Assert.Null(await store.GetAsync(key));
    }

    [Fact]
    public async Task Purge_RespectsBatchSize()
    {
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, 5).Select(_ => NewKey()).ToList();
        foreach (var key in keys)
        {
            await store.CompleteAsync(await ClaimAsync(store, key), Response(200, key));
        }

        await AdvanceTimeAsync(Retention + Tick);
        var now = StoreNow;

        Assert.Equal(2, await store.PurgeAsync(now, 2));
        Assert.Equal(2, await store.PurgeAsync(now, 2));
        Assert.Equal(1, await store.PurgeAsync(now, 2));
        Assert.Equal(0, await store.PurgeAsync(now, 2));
    }

    [Fact]
    public async Task Purge_ExpiredBeforeInThePast_KeepsRecordsExpiringLater()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var claimedAt = StoreNow;
        await store.CompleteAsync(await ClaimAsync(store, key), Response(200, "kept"));
        await AdvanceTimeAsync(Retention + Tick);

        Assert.Equal(0, await store.PurgeAsync(claimedAt, 100));
    }

    // ---- bodies and headers ----

    [Fact]
    public async Task Complete_AllByteValues_RoundTripByteExact()
    {
        var body = new byte[512];
        for (var i = 0; i < body.Length; i++)
        {
            body[i] = (byte)(i % 256);
        }

        await AssertRoundTripAsync(new IdempotencyResponse(200, [Header("Content-Type", "application/octet-stream")], body));
    }

    [Fact]
    public async Task Complete_LargeBody_RoundTripsByteExact()
    {
        var body = new byte[5 * 1024 * 1024];
        new Random(20240607).NextBytes(body);

        await AssertRoundTripAsync(new IdempotencyResponse(200, [Header("Content-Type", "application/octet-stream")], body));
    }

    [Fact]
    public async Task Complete_EmptyBodyAndNoHeaders_RoundTrips()
        => await AssertRoundTripAsync(new IdempotencyResponse(204, [], ReadOnlyMemory<byte>.Empty));

    [Fact]
    public async Task Complete_TruncatedBody_RoundTripsFlag()
    {
        var response = new IdempotencyResponse(200, [Header("Content-Type", "application/json")], new byte[16], bodyTruncated: true);

        var replayed = await AssertRoundTripAsync(response);

        Assert.True(replayed.BodyTruncated);
        Assert.True(replayed.Body.IsEmpty);
    }

    [Fact]
    public async Task Complete_NonAsciiHeaderValuesAndSlicedBody_RoundTrip()
    {
        var backing = Encoding.UTF8.GetBytes("xx{\"name\":\"Zoë\"}yy");
        var response = new IdempotencyResponse(
            402,
            [Header("Content-Language", "de-CH"), Header("X-Note", "Grüße, 東京"), Header("ETag", "\"v1\"")],
            backing.AsMemory(2, backing.Length - 4));

        await AssertRoundTripAsync(response);
    }

    // ---- concurrency ----

    [Fact]
    public async Task TryClaim_ManyParallelClaimers_ExactlyOneWinsEveryRound()
    {
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, RaceRounds).Select(_ => NewKey()).ToArray();

        await RaceAsync(
            RaceRounds,
            Racers,
            (round, _) => store.TryClaimAsync(Request(keys[round])).AsTask(),
            async (round, results) =>
            {
                var winners = results.Where(r => r.Outcome == ClaimOutcome.Claimed).ToList();
                Assert.True(winners.Count == 1, $"Round {round}: {winners.Count} claimers won.");
                Assert.All(results.Where(r => r.Outcome != ClaimOutcome.Claimed), r => Assert.Equal(ClaimOutcome.InProgress, r.Outcome));
                var response = Response(200, keys[round]);
                Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(winners[0].Lease!, response));
                AssertSameResponse(response, (await store.TryClaimAsync(Request(keys[round]))).Response);
            });
    }

    [Fact]
    public async Task Complete_RacingTakeovers_ExactlyOneOwnerWinsEveryRound()
    {
        const int completers = 4;
        var store = await CreateStoreAsync();
        var keys = Enumerable.Range(0, RaceRounds).Select(_ => NewKey()).ToArray();
        var stale = new IdempotencyLease[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            stale[i] = await ClaimAsync(store, keys[i]);
        }

        // Every first owner's lease has run out: its completes (from several threads) now race same-fingerprint takeovers.
        await AdvanceTimeAsync(Lease + Tick);

        await RaceAsync(
            RaceRounds,
            Racers,
            async (round, index) => index < completers
                ? (Completed: (LeaseStatus?)await store.CompleteAsync(stale[round], Response(200, $"complete-{index}")), Claim: default(ClaimResult))
                : (Completed: null, Claim: await store.TryClaimAsync(Request(keys[round]))),
            async (round, results) =>
            {
                var key = keys[round];
                var okCompletes = results.Count(r => r.Completed == LeaseStatus.Ok);
                var takeovers = results.Where(r => r.Completed is null && r.Claim.Outcome == ClaimOutcome.Claimed).ToList();
                Assert.True(okCompletes + takeovers.Count == 1, $"Round {round}: {okCompletes} completes and {takeovers.Count} takeovers won.");

                if (okCompletes == 1)
                {
                    var stored = (await store.GetAsync(key))!.Response;
                    Assert.NotNull(stored);
                    Assert.All(results.Where(r => r.Completed is null), r =>
                    {
                        Assert.Equal(ClaimOutcome.Completed, r.Claim.Outcome);
                        AssertSameResponse(stored, r.Claim.Response);
                    });
                }
                else
                {
                    Assert.All(results.Where(r => r.Completed is not null), r => Assert.Equal(LeaseStatus.LeaseLost, r.Completed));
                    Assert.All(results.Where(r => r.Completed is null && r.Claim.Outcome != ClaimOutcome.Claimed), r => Assert.Equal(ClaimOutcome.InProgress, r.Claim.Outcome));
                    var mine = Response(201, $"takeover-{round}");
                    Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(takeovers[0].Claim.Lease!, mine));
                    AssertSameResponse(mine, (await store.TryClaimAsync(Request(key))).Response);
                }
            });
    }

    // ---- recovery points ----

    [Fact]
    public async Task TryClaim_NewKey_HasNoRecoveryPoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();

        var lease = await ClaimAsync(store, key);

        Assert.Null(lease.RecoveryPoint);
        Assert.Null((await store.GetAsync(key))!.RecoveryPoint);
    }

    [Fact]
    public async Task SetRecoveryPoint_Owner_IsRecordedAndRenewsLease()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Tick + Tick);
        var before = StoreNow;

        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "payment_created"));

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal("payment_created", record.RecoveryPoint);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.True(record.LeaseExpiresAt >= before + Lease - Tick, "Recording a point renews the lease from now.");
    }

    [Fact]
    public async Task Renew_AfterRecoveryPoint_KeepsThePoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "payment_created"));
        await AdvanceTimeAsync(Tick + Tick);
        var before = StoreNow;

        Assert.Equal(LeaseStatus.Ok, await store.RenewAsync(lease));

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal("payment_created", record.RecoveryPoint);
        Assert.True(record.LeaseExpiresAt >= before + Lease - Tick, "A renewal moves the lease from now.");
    }

    [Fact]
    public async Task SetRecoveryPoint_StaleOwnerAfterTakeover_ReturnsLeaseLostAndKeepsNewOwnersPoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(owner, "owner_point"));

        Assert.Equal(LeaseStatus.LeaseLost, await store.SetRecoveryPointAsync(stale, "stale_point"));

        Assert.Equal("owner_point", (await store.GetAsync(key))!.RecoveryPoint);
    }

    [Fact]
    public async Task SetRecoveryPoint_AfterComplete_ReturnsLeaseLost()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        var response = Response(201, "done");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, response));

        Assert.Equal(LeaseStatus.LeaseLost, await store.SetRecoveryPointAsync(lease, "late"));

        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Release_WithRecoveryPoint_ParksKeySoNextClaimTakesOverAtThePointAtOnce()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var first = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(first, "charge_requested"));

        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(first));

        // No waiting for the lease: a released key is free at once, and it remembers where the operation stands.
        var parked = await store.GetAsync(key);
        Assert.NotNull(parked);
        Assert.Equal(IdempotencyRecordState.InProgress, parked.State);
        Assert.Equal("charge_requested", parked.RecoveryPoint);
        var retry = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, retry.Outcome);
        Assert.NotEqual(first.OwnerToken, retry.Lease!.OwnerToken);
        Assert.Equal("charge_requested", retry.Lease.RecoveryPoint);
        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(first, Response(200, "stale")));
        var response = Response(201, "resumed");
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(retry.Lease, response));
        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Release_WithRecoveryPoint_OtherFingerprintStillMismatches()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var first = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(first, "payment_created"));
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(first));

        Assert.Equal(ClaimOutcome.Mismatch, (await store.TryClaimAsync(Request(key, FingerprintB))).Outcome);
        Assert.Equal(LeaseStatus.LeaseLost, await store.ReleaseAsync(first));
    }

    [Fact]
    public async Task TryClaim_LeaseExpiredWithRecoveryPoint_TakeoverCarriesThePoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var crashed = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(crashed, "payment_created"));

        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(key))).Outcome);
        await AdvanceTimeAsync(Lease + Tick);
        var takeover = await store.TryClaimAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, takeover.Outcome);
        Assert.Equal("payment_created", takeover.Lease!.RecoveryPoint);
        Assert.Equal(LeaseStatus.LeaseLost, await store.SetRecoveryPointAsync(crashed, "stale"));
        Assert.Equal("payment_created", (await store.GetAsync(key))!.RecoveryPoint);
    }

    [Fact]
    public async Task TryClaim_RecoveryPointPastRetention_ClaimsAfreshWithoutThePoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var abandoned = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(abandoned, "payment_created"));
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(abandoned));
        await AdvanceTimeAsync(Retention + Tick);

        var fresh = await store.TryClaimAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Claimed, fresh.Outcome);
        Assert.Null(fresh.Lease!.RecoveryPoint);
        Assert.Null((await store.GetAsync(key))!.RecoveryPoint);
    }

    [Fact]
    public async Task SetRecoveryPoint_RacingTakeovers_OnlyTheWinnerRecordsAndEveryoneSeesThePoint()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var first = await ClaimAsync(store, key);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(first, "phase_1"));
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(first));

        var results = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(async () => await store.TryClaimAsync(Request(key)))));

        var winners = results.Where(r => r.Outcome == ClaimOutcome.Claimed).ToList();
        Assert.Single(winners);
        Assert.Equal("phase_1", winners[0].Lease!.RecoveryPoint);
        Assert.All(results.Where(r => r.Outcome != ClaimOutcome.Claimed), r => Assert.Equal(ClaimOutcome.InProgress, r.Outcome));
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(winners[0].Lease!, "phase_2"));
        Assert.Equal("phase_2", (await store.GetAsync(key))!.RecoveryPoint);
    }

    // ---- helpers ----

    protected static string NewKey() => StoreKey.Create("tenant|1", "POST", "/v1/transfers/{id}", Guid.NewGuid().ToString("N"));

    protected ClaimRequest Request(string key, string fingerprint = FingerprintA) => new(key, fingerprint, Lease, Retention);

    protected async Task<IdempotencyLease> ClaimAsync(IIdempotencyStore store, string key, ClaimRequest? request = null)
    {
        var result = await store.TryClaimAsync(request ?? Request(key));
        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        return result.Lease!;
    }

    protected static KeyValuePair<string, string> Header(string name, string value) => new(name, value);

    protected static IdempotencyResponse Response(int status, string body)
        => new(status, [Header("Content-Type", "text/plain; charset=utf-8")], Encoding.UTF8.GetBytes(body));

    protected static void AssertSameResponse(IdempotencyResponse expected, IdempotencyResponse? actual)
    {
        Assert.NotNull(actual);
        Assert.Equal(expected.StatusCode, actual.StatusCode);
        Assert.Equal(expected.BodyTruncated, actual.BodyTruncated);
        Assert.Equal(expected.Headers, actual.Headers);
        Assert.True(expected.Body.Span.SequenceEqual(actual.Body.Span), $"Body differs: expected {expected.Body.Length} bytes, got {actual.Body.Length}.");
    }

    protected static void AssertBetween(DateTimeOffset low, DateTimeOffset high, DateTimeOffset actual)
        => Assert.True(actual >= low && actual <= high, $"{actual:O} should be within [{low:O}, {high:O}].");

    /// <summary>
    /// Runs <paramref name="rounds"/> races. In each, <paramref name="racers"/> dedicated threads (kept for all rounds)
    /// wait at a gate that opens once all of them stand at it, then call <paramref name="racer"/> together, so the calls
    /// really overlap even on two cores. After each round <paramref name="afterRound"/> sees every result.
    /// </summary>
    protected static async Task RaceAsync<T>(int rounds, int racers, Func<int, int, Task<T>> racer, Func<int, T[], Task> afterRound)
    {
        var timeout = TimeSpan.FromSeconds(60);
        var gates = new ManualResetEventSlim[rounds];
        var ready = new TaskCompletionSource[rounds];
        var done = new TaskCompletionSource[rounds];
        var readyCounts = new int[rounds];
        var doneCounts = new int[rounds];
        var results = new T[rounds][];
        for (var r = 0; r < rounds; r++)
        {
            gates[r] = new ManualResetEventSlim(false, spinCount: 1);
            ready[r] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            done[r] = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            results[r] = new T[racers];
        }

        var stopped = false;
        Exception? failure = null;
        var threads = new Thread[racers];
        for (var i = 0; i < racers; i++)
        {
            var index = i;
            threads[i] = new Thread(() =>
            {
                for (var r = 0; r < rounds; r++)
                {
                    if (Interlocked.Increment(ref readyCounts[r]) == racers)
                    {
                        ready[r].SetResult();
                    }

                    gates[r].Wait();
                    if (Volatile.Read(ref stopped))
                    {
                        return;
                    }

                    try
                    {
#pragma warning disable xUnit1031 // Each racer owns a dedicated thread: blocking it is the point.
                        results[r][index] = racer(r, index).GetAwaiter().GetResult();
#pragma warning restore xUnit1031
                    }
                    catch (Exception ex)
                    {
                        Interlocked.CompareExchange(ref failure, ex, null);
                    }

                    if (Interlocked.Increment(ref doneCounts[r]) == racers)
                    {
                        done[r].SetResult();
                    }
                }
            })
            {
                IsBackground = true,
                Name = $"racer-{index}",
            };
            threads[i].Start();
        }

        try
        {
            for (var r = 0; r < rounds; r++)
            {
                await ready[r].Task.WaitAsync(timeout);
                gates[r].Set();
                await done[r].Task.WaitAsync(timeout);
                if (Volatile.Read(ref failure) is { } ex)
                {
                    throw new InvalidOperationException($"A racer failed in round {r}.", ex);
                }

                await afterRound(r, results[r]);
            }
        }
        finally
        {
            Volatile.Write(ref stopped, true);
            foreach (var gate in gates)
            {
                gate.Set();
            }

            foreach (var thread in threads)
            {
                thread.Join(timeout);
            }

            foreach (var gate in gates)
            {
                gate.Dispose();
            }
        }
    }

    private async Task<IdempotencyResponse> AssertRoundTripAsync(IdempotencyResponse response)
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);

        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, response));

        var replay = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        AssertSameResponse(response, replay.Response);
        AssertSameResponse(response, (await store.GetAsync(key))!.Response);
        return replay.Response!;
    }
}
