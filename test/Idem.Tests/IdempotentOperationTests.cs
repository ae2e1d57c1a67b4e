namespace Idem.Tests;

public sealed class IdempotentOperationTests
{
    [Fact]
    public void Create_StringInput_IsTheFingerprintNotTheScope()
    {
        var march = IdempotentOperation.Create("statements.send", "k-1", "march");
        var april = IdempotentOperation.Create("statements.send", "k-1", "april");

        Assert.Equal(march.StoreKey, april.StoreKey);
        Assert.NotEqual(march.Fingerprint, april.Fingerprint);
        Assert.Equal("k-1", march.Key);
    }

    [Fact]
    public void Create_SameInputDifferentJsonLayout_HasOneFingerprint()
    {
        var first = IdempotentOperation.Create("refunds.create", "k-1", new Dictionary<string, int> { ["a"] = 1, ["b"] = 2 });
        var second = IdempotentOperation.Create("refunds.create", "k-1", new Dictionary<string, int> { ["b"] = 2, ["a"] = 1 });

        Assert.Equal(first.Fingerprint, second.Fingerprint);
    }

    [Fact]
    public void Create_OtherScopeOrOtherName_NeverSharesAStoreKey()
    {
        var tenantA = IdempotentOperation.Create("refunds.create", "k-1", 500, scope: "tenant-a");
        var tenantB = IdempotentOperation.Create("refunds.create", "k-1", 500, scope: "tenant-b");
        var otherName = IdempotentOperation.Create("payouts.create", "k-1", 500, scope: "tenant-a");

        Assert.Equal(3, new[] { tenantA.StoreKey, tenantB.StoreKey, otherName.StoreKey }.Distinct().Count());
    }

    [Fact]
    public void Create_OperationKey_NeverMeetsAnHttpRequestsKey()
    {
        var operation = IdempotentOperation.Create("/v1/orders", "k-1");

        Assert.NotEqual(StoreKey.Create(string.Empty, "POST", "/v1/orders", "k-1"), operation.StoreKey);
    }

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("caf\u00e9")]
    public void Create_InvalidKey_Throws(string key)
        => Assert.ThrowsAny<ArgumentException>(() => IdempotentOperation.Create("statements.send", key));

    [Fact]
    public void Create_SameInputTwice_GivesEqualOperations()
    {
        var first = IdempotentOperation.Create("refunds.create", "k-1", new { amount = 500, currency = "EUR" });
        var second = IdempotentOperation.Create("refunds.create", "k-1", new { amount = 500, currency = "EUR" });
        var other = IdempotentOperation.Create("refunds.create", "k-1", new { amount = 501, currency = "EUR" });

        Assert.Equal(first, second);
        Assert.Equal(first.GetHashCode(), second.GetHashCode());
        Assert.NotEqual(first.MemberDigest, other.MemberDigest);
    }

    [Fact]
    public void With_SetsModeAndLeaseWithoutChangingTheKey()
    {
        var operation = IdempotentOperation.Create("ledger.post", "k-1");

        var transactional = operation with { Transactional = true, LeaseDuration = TimeSpan.FromSeconds(5) };

        Assert.True(transactional.Transactional);
        Assert.Equal(TimeSpan.FromSeconds(5), transactional.LeaseDuration);
        Assert.Equal(operation.StoreKey, transactional.StoreKey);
        Assert.Equal(operation.Fingerprint, transactional.Fingerprint);
    }
}
