using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The conformance suite plus what an <see cref="ITransactionalIdempotencyStore"/> must show (BEHAVIOUR §7): the claim,
/// the handler's own writes and the stored response commit or roll back together, and a concurrent duplicate waits for
/// the first transaction. A SQL store's test project inherits this class instead of <see cref="StoreConformanceTests"/>.
/// </summary>
public abstract partial class TransactionalStoreConformanceTests : StoreConformanceTests
{
    /// <summary>A fresh store that shares no records with any other test.</summary>
    protected abstract ValueTask<ITransactionalIdempotencyStore> CreateTransactionalStoreAsync();

    /// <summary>Writes one row of the handler's own data through the claim's connection and transaction.</summary>
    protected abstract Task WriteEffectAsync(IIdempotencyTransaction transaction, string effectId);

    /// <summary>Whether the handler's row exists, read on a connection of its own (so only committed rows count).</summary>
    protected abstract Task<bool> EffectExistsAsync(string effectId);

    /// <summary>
    /// Writes one row through the claim's transaction that refers to the effect <paramref name="effectId"/> by a foreign key
    /// checked at the commit (deferred): the effect may be written after it, or never, which breaks the key at the commit.
    /// </summary>
    protected abstract Task WriteDeferredReferenceAsync(IIdempotencyTransaction transaction, string effectId);

    /// <summary>Whether the reference <see cref="WriteDeferredReferenceAsync"/> wrote is committed.</summary>
    protected abstract Task<bool> DeferredReferenceExistsAsync(string effectId);

    /// <inheritdoc/>
    protected sealed override async ValueTask<IIdempotencyStore> CreateStoreAsync() => await CreateTransactionalStoreAsync();

    [Fact]
    public async Task BeginTransactional_NewKey_ClaimsWithOpenTransaction()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();

        await using var claim = await store.BeginTransactionalAsync(Request(key));

        Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
        Assert.NotNull(claim.Result.Lease);
        Assert.Equal(key, claim.Result.Lease.StoreKey);
        Assert.NotNull(claim.Transaction);
        Assert.Equal(System.Data.ConnectionState.Open, claim.Transaction.Connection.State);
        Assert.Same(claim.Transaction.Connection, claim.Transaction.Transaction.Connection);

        // Nothing is visible to others until the transaction commits.
        Assert.Null(await store.GetAsync(key));
    }

    [Fact]
    public async Task BeginTransactional_Commit_MakesKeyCompletedForOthers()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var response = Response(201, "created");

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
            await claim.CommitAsync(response);
        }

        var standalone = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Completed, standalone.Outcome);
        AssertSameResponse(response, standalone.Response);

        await using var again = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Completed, again.Result.Outcome);
        Assert.Null(again.Transaction);
        AssertSameResponse(response, again.Result.Response);

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.Completed, record.State);
        Assert.Equal(FingerprintA, record.Fingerprint);
        AssertSameResponse(response, record.Response);
    }

    [Fact]
    public async Task BeginTransactional_DisposeWithoutCommit_LeavesNoRecord()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
        }

        Assert.Null(await store.GetAsync(key));
        var retry = await store.TryClaimAsync(Request(key, FingerprintB));
        Assert.Equal(ClaimOutcome.Claimed, retry.Outcome);
    }

    [Fact]
    public async Task BeginTransactional_Rollback_LeavesNoRecord()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await claim.RollbackAsync();
        }

        Assert.Null(await store.GetAsync(key));
        await using var retry = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, retry.Result.Outcome);
    }

    [Fact]
    public async Task BeginTransactional_HandlerWritesThenCommit_CommitWithClaim()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var effect = Guid.NewGuid().ToString("N");

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await WriteEffectAsync(claim.Transaction!, effect);
            Assert.False(await EffectExistsAsync(effect));
            await claim.CommitAsync(Response(200, effect));
        }

        Assert.True(await EffectExistsAsync(effect));
        Assert.Equal(ClaimOutcome.Completed, (await store.TryClaimAsync(Request(key))).Outcome);
    }

    [Fact]
    public async Task BeginTransactional_HandlerWritesThenDispose_RollBackWithClaim()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var effect = Guid.NewGuid().ToString("N");

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await WriteEffectAsync(claim.Transaction!, effect);
        }

        Assert.False(await EffectExistsAsync(effect));
        Assert.Null(await store.GetAsync(key));
    }

    [Fact]
    public async Task BeginTransactional_HandlerWritesThenRollback_RollBackWithClaim()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var effect = Guid.NewGuid().ToString("N");

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await WriteEffectAsync(claim.Transaction!, effect);
            await claim.RollbackAsync();
        }

        Assert.False(await EffectExistsAsync(effect));
        Assert.Equal(ClaimOutcome.Claimed, (await store.TryClaimAsync(Request(key))).Outcome);
    }

    [Fact]
    public async Task BeginTransactional_ConcurrentDuplicate_WaitsThenSeesCompleted()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var response = Response(201, "first");
        var first = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, first.Result.Outcome);

        var duplicate = Task.Run(async () => await store.BeginTransactionalAsync(Request(key)));
        await Task.WhenAny(duplicate, Task.Delay(TimeSpan.FromMilliseconds(200)));
        Assert.False(duplicate.IsCompleted, "The duplicate must wait for the first transaction.");

        await first.CommitAsync(response);
        await first.DisposeAsync();

        await using var second = await duplicate.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ClaimOutcome.Completed, second.Result.Outcome);
        Assert.Null(second.Transaction);
        AssertSameResponse(response, second.Result.Response);
    }

    [Fact]
    public async Task BeginTransactional_ConcurrentDuplicateAfterRollback_Claims()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var effect = Guid.NewGuid().ToString("N");
        var first = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, first.Result.Outcome);
        await WriteEffectAsync(first.Transaction!, effect);

        var duplicate = Task.Run(async () => await store.BeginTransactionalAsync(Request(key)));
        await Task.WhenAny(duplicate, Task.Delay(TimeSpan.FromMilliseconds(200)));
        Assert.False(duplicate.IsCompleted, "The duplicate must wait for the first transaction.");

        await first.RollbackAsync();
        await first.DisposeAsync();

        await using var second = await duplicate.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ClaimOutcome.Claimed, second.Result.Outcome);
        Assert.NotNull(second.Transaction);
        await WriteEffectAsync(second.Transaction, effect);
        var response = Response(200, "second");
        await second.CommitAsync(response);
        Assert.True(await EffectExistsAsync(effect));
        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task BeginTransactional_ManyParallelDuplicates_ExactlyOneRunsOthersReplay()
    {
        var store = await CreateTransactionalStoreAsync();
        var rounds = Math.Max(1, RaceRounds / 5);
        var keys = Enumerable.Range(0, rounds).Select(_ => NewKey()).ToArray();

        await RaceAsync(
            rounds,
            Racers,
            async (round, _) =>
            {
                await using var claim = await store.BeginTransactionalAsync(Request(keys[round]));
                if (claim.Result.Outcome == ClaimOutcome.Claimed)
                {
                    await claim.CommitAsync(Response(200, keys[round]));
                }

                return (claim.Result.Outcome, claim.Result.Response);
            },
            (round, outcomes) =>
            {
                var ran = outcomes.Count(o => o.Outcome == ClaimOutcome.Claimed);
                Assert.True(ran == 1, $"Round {round}: {ran} duplicates ran.");
                Assert.All(outcomes.Where(o => o.Outcome != ClaimOutcome.Claimed), o =>
                {
                    Assert.Equal(ClaimOutcome.Completed, o.Outcome);
                    AssertSameResponse(Response(200, keys[round]), o.Response);
                });
                return Task.CompletedTask;
            });
    }

    [Fact]
    public async Task BeginTransactional_CompletedKey_ReturnsCompletedWithoutTransaction()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var response = Response(200, "standalone");
        await store.CompleteAsync(await ClaimAsync(store, key), response);

        await using var claim = await store.BeginTransactionalAsync(Request(key));

        Assert.Equal(ClaimOutcome.Completed, claim.Result.Outcome);
        Assert.Null(claim.Transaction);
        AssertSameResponse(response, claim.Result.Response);
    }

    [Fact]
    public async Task BeginTransactional_DifferentFingerprint_ReturnsMismatchWithoutTransaction()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var first = await store.BeginTransactionalAsync(Request(key)))
        {
            await first.CommitAsync(Response(200, "first"));
        }

        await using var claim = await store.BeginTransactionalAsync(Request(key, FingerprintB));

        Assert.Equal(ClaimOutcome.Mismatch, claim.Result.Outcome);
        Assert.Null(claim.Transaction);
    }

    [Fact]
    public async Task BeginTransactional_StandaloneClaimInProgress_ReturnsInProgressWithoutTransaction()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);

        await using var claim = await store.BeginTransactionalAsync(Request(key));

        Assert.Equal(ClaimOutcome.InProgress, claim.Result.Outcome);
        Assert.Null(claim.Transaction);
        Assert.True(claim.Result.RetryAfter > TimeSpan.Zero && claim.Result.RetryAfter <= Lease, $"RetryAfter {claim.Result.RetryAfter}.");
    }

    [Fact]
    public async Task BeginTransactional_StandaloneLeaseExpired_TakesOverAndStaleOwnerLoses()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var stale = await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);
        var response = Response(200, "transactional");

        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
            await claim.CommitAsync(response);
        }

        Assert.Equal(LeaseStatus.LeaseLost, await store.CompleteAsync(stale, Response(200, "stale")));
        AssertSameResponse(response, (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task BeginTransactional_CompletedPastRetention_ClaimsAsNewKey()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var first = await store.BeginTransactionalAsync(Request(key)))
        {
            await first.CommitAsync(Response(200, "old"));
        }

        await AdvanceTimeAsync(Retention + Tick);

        await using var claim = await store.BeginTransactionalAsync(Request(key, FingerprintB));
        Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
    }

    [Fact]
    public async Task CommitAsync_WhenNotClaimed_Throws()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);
        await using var claim = await store.BeginTransactionalAsync(Request(key));

        await Assert.ThrowsAsync<InvalidOperationException>(async () => await claim.CommitAsync(Response(200, "not mine")));
    }

    // ---- atomic phases ----

    [Fact]
    public async Task CommitPhase_MakesWritesAndPointDurableAndKeepsKeyClaimed()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var phase1 = Guid.NewGuid().ToString("N");
        await using var claim = await store.BeginTransactionalAsync(Request(key));
        await WriteEffectAsync(claim.Transaction!, phase1);

        Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));

        Assert.Equal("payment_created", claim.RecoveryPoint);
        Assert.True(await EffectExistsAsync(phase1));
        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.InProgress, record.State);
        Assert.Equal("payment_created", record.RecoveryPoint);

        // Between phases nothing is locked: a duplicate is answered at once, not made to wait.
        var duplicate = await store.TryClaimAsync(Request(key)).AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(ClaimOutcome.InProgress, duplicate.Outcome);
        Assert.Throws<InvalidOperationException>(() => claim.Transaction!.Transaction);
    }

    [Fact]
    public async Task CommitPhase_ThenNextPhaseCommits_CompletesWithBothPhasesWrites()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var phase1 = Guid.NewGuid().ToString("N");
        var phase3 = Guid.NewGuid().ToString("N");
        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await WriteEffectAsync(claim.Transaction!, phase1);
            Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));
            Assert.Equal(LeaseStatus.Ok, await claim.BeginPhaseAsync());
            await WriteEffectAsync(claim.Transaction!, phase3);
            await claim.CommitAsync(Response(201, "charged"));
        }

        Assert.True(await EffectExistsAsync(phase1));
        Assert.True(await EffectExistsAsync(phase3));
        AssertSameResponse(Response(201, "charged"), (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task CommitAsync_RightAfterCommitPhase_OpensTheLastPhaseItself()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));
            await claim.CommitAsync(Response(402, "declined"));
        }

        AssertSameResponse(Response(402, "declined"), (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Rollback_AfterCommitPhase_KeepsPhaseOneParksKeyAndRetryResumesAtThePoint()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var phase1 = Guid.NewGuid().ToString("N");
        var phase3 = Guid.NewGuid().ToString("N");
        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            await WriteEffectAsync(claim.Transaction!, phase1);
            Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));
            Assert.Equal(LeaseStatus.Ok, await claim.BeginPhaseAsync());
            await WriteEffectAsync(claim.Transaction!, phase3);
            await claim.RollbackAsync();
        }

        Assert.True(await EffectExistsAsync(phase1));
        Assert.False(await EffectExistsAsync(phase3));

        // Released to its recovery point: a retry takes over at once, without waiting for the lease.
        await using var retry = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, retry.Result.Outcome);
        Assert.Equal("payment_created", retry.RecoveryPoint);
        Assert.Equal("payment_created", retry.Result.Lease!.RecoveryPoint);
        await WriteEffectAsync(retry.Transaction!, phase3);
        await retry.CommitAsync(Response(201, "resumed"));
        Assert.True(await EffectExistsAsync(phase3));
        AssertSameResponse(Response(201, "resumed"), (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task Dispose_BetweenPhases_ParksKeyAtThePoint()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var claim = await store.BeginTransactionalAsync(Request(key)))
        {
            Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("charge_requested"));
        }

        var retry = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, retry.Outcome);
        Assert.Equal("charge_requested", retry.Lease!.RecoveryPoint);
    }

    [Fact]
    public async Task BeginPhase_AfterLeaseTakenOver_ReturnsLeaseLostAndLeavesTheNewOwnerAlone()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        var late = Guid.NewGuid().ToString("N");
        var claim = await store.BeginTransactionalAsync(Request(key));
        Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));
        await AdvanceTimeAsync(Lease + Tick);
        var owner = await store.TryClaimAsync(Request(key));
        Assert.Equal(ClaimOutcome.Claimed, owner.Outcome);
        Assert.Equal("payment_created", owner.Lease!.RecoveryPoint);

        Assert.Equal(LeaseStatus.LeaseLost, await claim.BeginPhaseAsync());
        Assert.Equal(LeaseStatus.LeaseLost, await claim.CommitPhaseAsync("stale_point"));
        await Assert.ThrowsAsync<IdempotencyLeaseLostException>(async () => await claim.CommitAsync(Response(200, late)));
        await claim.DisposeAsync();

        var record = await store.GetAsync(key);
        Assert.NotNull(record);
        Assert.Equal("payment_created", record.RecoveryPoint);
        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(key))).Outcome);
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(owner.Lease, Response(201, "owner")));
        AssertSameResponse(Response(201, "owner"), (await store.TryClaimAsync(Request(key))).Response);
    }

    [Fact]
    public async Task CommitPhase_Twice_RecordsTheLatestPoint()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using var claim = await store.BeginTransactionalAsync(Request(key));

        Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("payment_created"));
        Assert.Equal(LeaseStatus.Ok, await claim.CommitPhaseAsync("charge_succeeded"));

        Assert.Equal("charge_succeeded", claim.RecoveryPoint);
        Assert.Equal("charge_succeeded", (await store.GetAsync(key))!.RecoveryPoint);
    }
}
