using Idem.Payments.Accounts;
using Idem.Payments.Batches;
using Xunit;

namespace Idem.Payments.Tests.Batches;

/// <summary>The in-memory application of a batch's items: in order, each seeing what the items before it left, limits checked at every step.</summary>
public sealed class BatchPlanTests
{
    private static readonly Currency Usd = new("USD", 2);

    [Fact]
    public void Apply_Items_EachSeesTheBalancesTheItemsBeforeItLeft()
    {
        var accounts = Accounts(("a", 100, 0, Money.MaxBalance), ("b", 0, 0, Money.MaxBalance), ("c", 0, 0, Money.MaxBalance));

        var outcome = BatchPlan.Apply(accounts, [Item("a", "b", 100), Item("b", "c", 60), Item("c", "a", 10)]);

        Assert.Null(outcome.Refusal);
        Assert.Equal([new ItemBalances(0, 100), new ItemBalances(40, 60), new ItemBalances(50, 10)], outcome.Balances);
        Assert.Equal((10L, 3L), (outcome.Accounts["a"].Balance, outcome.Accounts["a"].Version));
        Assert.Equal((40L, 3L), (outcome.Accounts["b"].Balance, outcome.Accounts["b"].Version));
        Assert.Equal((50L, 3L), (outcome.Accounts["c"].Balance, outcome.Accounts["c"].Version));
        Assert.Equal(100, accounts["a"].Balance); // the locked rows as read are left alone
    }

    [Fact]
    public void Apply_ItemOverdraws_RefusesItKeepingTheBalancesOfThoseBefore()
    {
        var accounts = Accounts(("a", 250, 0, Money.MaxBalance), ("b", 0, 0, Money.MaxBalance));

        var outcome = BatchPlan.Apply(accounts, [Item("a", "b", 100), Item("a", "b", 100), Item("a", "b", 100), Item("a", "b", 1)]);

        Assert.Equal(2, outcome.Refusal?.FailedItem);
        Assert.Equal(LedgerErrorKind.InsufficientFunds, outcome.Refusal?.Error.Kind);
        Assert.Equal("amount", outcome.Refusal?.Error.Member);
        Assert.Equal(2, outcome.Balances.Count);
    }

    [Fact]
    public void Apply_OverdraftAndHeldMoney_CountInWhatMayBeSpent()
    {
        var accounts = Accounts(("a", 100, 50, Money.MaxBalance), ("b", 0, 0, Money.MaxBalance));
        accounts["a"] = accounts["a"] with { PendingDebits = 30 };

        Assert.Null(BatchPlan.Apply(accounts, [Item("a", "b", 100), Item("a", "b", 20)]).Refusal);
        Assert.Equal(1, BatchPlan.Apply(accounts, [Item("a", "b", 100), Item("a", "b", 21)]).Refusal?.FailedItem);
    }

    [Fact]
    public void Apply_CapAndPromisedMoney_CountInWhatMayBeReceived()
    {
        var accounts = Accounts(("a", 1_000, 0, Money.MaxBalance), ("capped", 0, 0, 500), ("c", 0, 0, Money.MaxBalance));
        accounts["capped"] = accounts["capped"] with { PendingCredits = 100 };

        var refused = BatchPlan.Apply(accounts, [Item("a", "capped", 300), Item("a", "capped", 101)]);
        var applied = BatchPlan.Apply(accounts, [Item("a", "capped", 300), Item("capped", "c", 300), Item("a", "capped", 400)]);

        Assert.Equal((1, LedgerErrorKind.BalanceLimitExceeded), (refused.Refusal?.FailedItem, refused.Refusal?.Error.Kind));
        Assert.Null(applied.Refusal);
    }

    [Theory]
    [InlineData("x", "y", "from_account", "AccountNotFound")]
    [InlineData("a", "y", "to_account", "AccountNotFound")]
    [InlineData("a", "eur", "to_account", "CurrencyMismatch")]
    [InlineData("eur", "a", "from_account", "CurrencyMismatch")]
    public void Apply_UnknownAccountOrCurrency_RefusedInTheOrderATransferChecks(string from, string to, string member, string kind)
    {
        var accounts = Accounts(("a", 0, 0, Money.MaxBalance));
        accounts["eur"] = accounts["a"] with { Id = "eur", Currency = "EUR" };

        var outcome = BatchPlan.Apply(accounts, [Item(from, to, 1_000_000)]);

        Assert.Equal((0, Enum.Parse<LedgerErrorKind>(kind), member), (outcome.Refusal?.FailedItem, outcome.Refusal?.Error.Kind, outcome.Refusal?.Error.Member));
    }

    [Fact]
    public void Apply_ItemToItsOwnAccount_Throws()
        => Assert.Throws<ArgumentException>(() => BatchPlan.Apply(Accounts(("a", 10, 0, Money.MaxBalance)), [Item("a", "a", 1)]));

    private static BatchItem Item(string from, string to, long amount) => new(from, to, amount, Usd);

    private static Dictionary<string, Account> Accounts(params (string Id, long Balance, long OverdraftLimit, long MaxBalance)[] accounts)
        => accounts.ToDictionary(
            a => a.Id,
            a => new Account(a.Id, "tenant", AccountKind.Customer, "USD", a.Balance, Version: 1, DateTimeOffset.UnixEpoch, OverdraftLimit: a.OverdraftLimit, MaxBalance: a.MaxBalance),
            StringComparer.Ordinal);
}
