using Xunit;

namespace Idem.Storage.ConformanceTests;

/// <summary>The member digest on a transactional claim: written with the claim, committed with it, handed back on a mismatch.</summary>
public abstract partial class TransactionalStoreConformanceTests
{
    [Fact]
    public async Task BeginTransactional_WithMemberDigest_CommitsItAndAMismatchGetsItBack()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var claim = await store.BeginTransactionalAsync(Request(key, FingerprintA, DigestA)))
        {
            Assert.Equal(ClaimOutcome.Claimed, claim.Result.Outcome);
            await claim.CommitAsync(Response(201, "created"));
        }

        await using var mismatch = await store.BeginTransactionalAsync(Request(key, FingerprintB, DigestB));

        Assert.Equal(ClaimOutcome.Mismatch, mismatch.Result.Outcome);
        AssertDigest(DigestA, mismatch.Result.MemberDigest);
        AssertDigest(DigestA, (await store.GetAsync(key))!.MemberDigest);
    }

    [Fact]
    public async Task BeginTransactional_RolledBack_LeavesNoMemberDigestBehind()
    {
        var store = await CreateTransactionalStoreAsync();
        var key = NewKey();
        await using (var claim = await store.BeginTransactionalAsync(Request(key, FingerprintA, DigestA)))
        {
            await claim.RollbackAsync();
        }

        await using var next = await store.BeginTransactionalAsync(Request(key, FingerprintB));
        await next.CommitAsync(Response(200, "second"));

        Assert.True((await store.GetAsync(key))!.MemberDigest.IsEmpty);
    }

    [Fact]
    public async Task RunAsync_TransactionalSameKeyOtherInput_NamesTheMembersThatDiffer()
    {
        var executor = CreateExecutor(await CreateTransactionalStoreAsync());
        var key = Guid.NewGuid().ToString("N");

        await executor.RunAsync(IdempotentOperation.Create("ledger.post", key, new { amount = 500, account = "acc_1" }) with { Transactional = true }, (_, _) => ValueTask.FromResult(1));
        var other = await executor.RunAsync(IdempotentOperation.Create("ledger.post", key, new { amount = 500, account = "acc_2" }) with { Transactional = true }, (_, _) => ValueTask.FromResult(2));

        Assert.Equal(IdempotentOutcome.Mismatch, other.Outcome);
        Assert.True(other.Execution.MismatchedFieldsKnown);
        Assert.Equal(["account"], other.Execution.MismatchedFields);
    }
}
