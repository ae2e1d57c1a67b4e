using Idem.Payments.Accounts;

namespace Idem.Payments.Batches;

/// <summary>An item's two balances after it applied: the debited account's and the credited account's.</summary>
internal readonly record struct ItemBalances(long From, long To);

/// <summary>
/// What applying a batch in memory came to: the balances each applied item left (its entries' <c>balance_after</c>),
/// every touched account as the whole batch leaves it, and the refusal that stopped it, if one did (then the balances
/// cover the items before it, and nothing may be written).
/// </summary>
internal sealed record BatchOutcome(IReadOnlyList<ItemBalances> Balances, IReadOnlyDictionary<string, Account> Accounts, BatchRefusal? Refusal);

/// <summary>
/// Applies a batch's items in memory, in order, to the accounts it touches as they were locked. Each item sees what the
/// items before it left, so it may spend money an earlier item credited, and each limit is checked at every step (the
/// debited account's <see cref="Account.Spendable"/>, the credited one's <see cref="Account.Room"/>, held and promised
/// money counted) exactly as one transfer after another would check it. The checks and their order are those of a
/// single transfer (<see cref="Transfers.TransferService"/>). Nothing here touches the database.
/// </summary>
internal static class BatchPlan
{
    public static BatchOutcome Apply(IReadOnlyDictionary<string, Account> locked, IReadOnlyList<BatchItem> items)
    {
        var accounts = new Dictionary<string, Account>(locked, StringComparer.Ordinal);
        var balances = new List<ItemBalances>(items.Count);
        for (var index = 0; index < items.Count; index++)
        {
            var item = items[index];
            if (string.Equals(item.FromAccount, item.ToAccount, StringComparison.Ordinal))
            {
                // The request is refused before it gets here (400, like a single transfer); applying such an item would
                // write two entries that cancel out and a transfer the database's CHECK refuses.
                throw new ArgumentException($"Item {index} of the batch moves money from an account to itself.", nameof(items));
            }

            if (Check(accounts, item) is { } error)
            {
                return new BatchOutcome(balances, accounts, new BatchRefusal(index, error));
            }

            var source = accounts[item.FromAccount];
            var target = accounts[item.ToAccount];
            accounts[source.Id] = source = source with { Balance = source.Balance - item.Amount, Version = source.Version + 1 };
            accounts[target.Id] = target = target with { Balance = target.Balance + item.Amount, Version = target.Version + 1 };
            balances.Add(new ItemBalances(source.Balance, target.Balance));
        }

        return new BatchOutcome(balances, accounts, null);
    }

    private static LedgerError? Check(Dictionary<string, Account> accounts, BatchItem item)
    {
        if (!accounts.TryGetValue(item.FromAccount, out var from))
        {
            return LedgerService.NotFound(item.FromAccount, "from_account");
        }

        if (!accounts.TryGetValue(item.ToAccount, out var to))
        {
            return LedgerService.NotFound(item.ToAccount, "to_account");
        }

        var currency = item.Currency.Code;
        if (from.Currency != currency || to.Currency != currency)
        {
            return new LedgerError(LedgerErrorKind.CurrencyMismatch,
                $"The transfer is in {currency}, but account {from.Id} holds {from.Currency} and account {to.Id} holds {to.Currency}. Both accounts must hold the transfer's currency.",
                from.Currency != currency ? "from_account" : "to_account");
        }

        if (to.Room < item.Amount)
        {
            return LedgerService.BalanceLimit(to);
        }

        return from.Spendable < item.Amount ? LedgerService.InsufficientFunds(from, item.Amount, "transfer") : null;
    }
}
