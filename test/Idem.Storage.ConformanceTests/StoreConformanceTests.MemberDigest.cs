using System.Text;
using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The member digest (<see cref="ClaimRequest.MemberDigest"/>): opaque bytes a claim stores beside the fingerprint and a
/// mismatch hands back, so the engine can name the members that differ. Records stored without one (by a request that had
/// none, or before digests existed) still mismatch, with nothing handed back.
/// </summary>
public abstract partial class StoreConformanceTests
{
    /// <summary>Bytes a store must keep as they are: every byte value, zero included.</summary>
    protected static readonly byte[] DigestA = [.. Enumerable.Range(0, 600).Select(i => (byte)(i * 7))];

    protected static readonly byte[] DigestB = [1, 6, 0, .. "amount"u8, 9, 8, 7, 6, 5, 4, 3, 2];

    protected ClaimRequest Request(string key, string fingerprint, byte[] memberDigest) => Request(key, fingerprint) with { MemberDigest = memberDigest };

    [Fact]
    public async Task TryClaim_WithMemberDigest_KeepsItThroughCompletion()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key, Request(key, FingerprintA, DigestA));

        var inProgress = await store.GetAsync(key);
        await store.SetRecoveryPointAsync(lease, "phase_1");
        await store.CompleteAsync(lease, Response(200, "done"));
        var completed = await store.GetAsync(key);

        AssertDigest(DigestA, inProgress!.MemberDigest);
        AssertDigest(DigestA, completed!.MemberDigest);
        Assert.Equal(IdempotencyRecordState.Completed, completed.State);
    }

    [Fact]
    public async Task TryClaim_DifferentFingerprintWhileInProgress_ReturnsTheStoredMemberDigest()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key, Request(key, FingerprintA, DigestA));

        var result = await store.TryClaimAsync(Request(key, FingerprintB, DigestB));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        AssertDigest(DigestA, result.MemberDigest);
        AssertDigest(DigestA, (await store.GetAsync(key))!.MemberDigest);
    }

    [Fact]
    public async Task TryClaim_DifferentFingerprintAfterCompletion_ReturnsTheStoredMemberDigest()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key, Request(key, FingerprintA, DigestB));
        await store.CompleteAsync(lease, Response(201, "created"));

        var result = await store.TryClaimAsync(Request(key, FingerprintB, DigestA));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        AssertDigest(DigestB, result.MemberDigest);
    }

    [Fact]
    public async Task TryClaim_RecordWithoutMemberDigest_MismatchReturnsNone()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key);
        await store.CompleteAsync(lease, Response(200, "done"));

        var result = await store.TryClaimAsync(Request(key, FingerprintB, DigestA));

        Assert.Equal(ClaimOutcome.Mismatch, result.Outcome);
        Assert.True(result.MemberDigest.IsEmpty);
        Assert.True((await store.GetAsync(key))!.MemberDigest.IsEmpty);
    }

    [Fact]
    public async Task TryClaim_ReplayAndInProgress_LeaveTheMemberDigestAsStored()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        var lease = await ClaimAsync(store, key, Request(key, FingerprintA, DigestA));

        Assert.Equal(ClaimOutcome.InProgress, (await store.TryClaimAsync(Request(key, FingerprintA, DigestB))).Outcome);
        await store.CompleteAsync(lease, Response(200, "done"));
        Assert.Equal(ClaimOutcome.Completed, (await store.TryClaimAsync(Request(key, FingerprintA, DigestB))).Outcome);

        AssertDigest(DigestA, (await store.GetAsync(key))!.MemberDigest);
    }

    [Fact]
    public async Task TryClaim_Takeover_StoresTheNewRequestsMemberDigest()
    {
        var store = await CreateStoreAsync();
        var key = NewKey();
        await ClaimAsync(store, key);
        await AdvanceTimeAsync(Lease + Tick);

        var takeover = await store.TryClaimAsync(Request(key, FingerprintA, DigestA));

        Assert.Equal(ClaimOutcome.Claimed, takeover.Outcome);
        AssertDigest(DigestA, (await store.GetAsync(key))!.MemberDigest);
        AssertDigest(DigestA, (await store.TryClaimAsync(Request(key, FingerprintB))).MemberDigest);
    }

    [Fact]
    public async Task TryClaim_PastRetention_ReplacesOrClearsTheMemberDigest()
    {
        var store = await CreateStoreAsync();
        var replaced = NewKey();
        var cleared = NewKey();
        await store.CompleteAsync(await ClaimAsync(store, replaced, Request(replaced, FingerprintA, DigestA)), Response(200, "old"));
        await store.CompleteAsync(await ClaimAsync(store, cleared, Request(cleared, FingerprintA, DigestA)), Response(200, "old"));
        await AdvanceTimeAsync(Retention + Tick);

        await ClaimAsync(store, replaced, Request(replaced, FingerprintB, DigestB));
        await ClaimAsync(store, cleared, Request(cleared, FingerprintB));

        AssertDigest(DigestB, (await store.GetAsync(replaced))!.MemberDigest);
        Assert.True((await store.GetAsync(cleared))!.MemberDigest.IsEmpty);
    }

    // ---- through the executor: the members that differ, and what is stored ----

    [Fact]
    public async Task RunAsync_SameKeyOtherInput_NamesTheMembersThatDiffer()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var key = Guid.NewGuid().ToString("N");
        var runs = 0;
        ValueTask<int> Run(IIdempotencyContext context, CancellationToken ct) => ValueTask.FromResult(Interlocked.Increment(ref runs));

        await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { amount = 500, currency = "EUR", reason = "damaged" }), Run);
        var other = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { currency = "EUR", amount = 900, memo = "late" }), Run);
        var sameMembers = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { reason = "damaged", currency = "EUR", amount = 500 }), Run);

        Assert.Equal(IdempotentOutcome.Mismatch, other.Outcome);
        Assert.True(other.Execution.MismatchedFieldsKnown);
        Assert.Equal(["amount", "memo", "reason"], other.Execution.MismatchedFields);
        Assert.Equal(IdempotentOutcome.Replayed, sameMembers.Outcome);
        Assert.Equal(1, runs);
    }

    [Fact]
    public async Task RunAsync_SameKeyInputNotAnObject_MismatchWithoutFields()
    {
        var executor = CreateExecutor(await CreateStoreAsync());
        var key = Guid.NewGuid().ToString("N");

        await executor.RunAsync(IdempotentOperation.Create("statements.send", key, new { month = "march" }), (_, _) => ValueTask.FromResult(1));
        var other = await executor.RunAsync(IdempotentOperation.Create("statements.send", key, "april"), (_, _) => ValueTask.FromResult(2));

        Assert.Equal(IdempotentOutcome.Mismatch, other.Outcome);
        Assert.False(other.Execution.MismatchedFieldsKnown);
        Assert.Empty(other.Execution.MismatchedFields);
    }

    [Fact]
    public async Task RunAsync_RecordStoredWithoutDigest_MismatchWithoutFields()
    {
        // As a record written before member digests existed: the same key and fingerprint, nothing beside it.
        var store = await CreateStoreAsync();
        var executor = CreateExecutor(store);
        var key = Guid.NewGuid().ToString("N");
        var first = IdempotentOperation.Create("refunds.create", key, new { amount = 500 });
        await executor.RunAsync(first with { MemberDigest = null }, (_, _) => ValueTask.FromResult(1));

        var other = await executor.RunAsync(IdempotentOperation.Create("refunds.create", key, new { amount = 900 }), (_, _) => ValueTask.FromResult(2));

        Assert.True((await store.GetAsync(first.StoreKey))!.MemberDigest.IsEmpty);
        Assert.Equal(IdempotentOutcome.Mismatch, other.Outcome);
        Assert.False(other.Execution.MismatchedFieldsKnown);
        Assert.Empty(other.Execution.MismatchedFields);
    }

    [Fact]
    public async Task RunAsync_ObjectInput_StoresMemberNamesButNoValue()
    {
        var store = await CreateStoreAsync();
        var executor = CreateExecutor(store);
        var operation = IdempotentOperation.Create("refunds.create", Guid.NewGuid().ToString("N"), new { amount = 731_904, note = "zebra-crossing-7781" });

        await executor.RunAsync(operation, (_, _) => ValueTask.FromResult(1));

        var record = await store.GetAsync(operation.StoreKey);
        var stored = Encoding.Latin1.GetString(record!.MemberDigest.Span);
        Assert.Contains("note", stored, StringComparison.Ordinal);
        Assert.Contains("amount", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("zebra", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("731904", stored, StringComparison.Ordinal);
    }

    protected static void AssertDigest(byte[] expected, ReadOnlyMemory<byte> actual)
        => Assert.True(actual.Span.SequenceEqual(expected), $"Expected a member digest of {expected.Length} bytes, got {actual.Length}: {Convert.ToHexString(actual.Span)}.");
}
