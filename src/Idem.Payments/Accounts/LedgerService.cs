using Idem.Payments.Data;

namespace Idem.Payments.Accounts;

/// <summary>
/// The ledger's rules. Every movement writes entries that sum to zero and changes balances with conditional updates
/// that bump the account's version. Accounts are locked before they are read for a decision, always in one order:
/// customer accounts by id, then the tenant's funding account last; so two movements never wait on each other in a
/// cycle when the database has row locks. Every refusal is decided before the first write, so a refused movement
/// leaves nothing behind even though its transaction commits (the idempotency record of the refusal goes with it).
/// </summary>
internal sealed class LedgerService(TimeProvider time)
{
    public async Task<Account> OpenAccountAsync(
        UnitOfWork work, string tenantId, Currency currency, long overdraftLimit, long maxBalance, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var account = new Account(Ids.New(Ids.Account), tenantId, AccountKind.Customer, currency.Code, Balance: 0, Version: 1, Now(),
            OverdraftLimit: overdraftLimit, MaxBalance: maxBalance);
        await ledger.InsertAccountAsync(account, cancellationToken).ConfigureAwait(false);
        return account;
    }

    /// <summary>Moves money from outside the ledger (the tenant's funding account) into an account.</summary>
    public async Task<LedgerResult<Deposit>> DepositAsync(
        UnitOfWork work, string tenantId, string accountId, long amount, Origin origin, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var now = Now();
        var account = await ledger.LockAccountAsync(tenantId, accountId, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            return NotFound(accountId, "account");
        }

        if (account.Room < amount)
        {
            return BalanceLimit(account);
        }

        var funding = await ledger.LockFundingAccountAsync(tenantId, account.Currency, cancellationToken).ConfigureAwait(false);
        if (funding is not null && funding.Spendable < amount)
        {
            return new LedgerError(LedgerErrorKind.BalanceLimitExceeded, $"Deposits in {account.Currency} have reached the ledger's limit.", "amount");
        }

        // Created on the first deposit in a currency; by now nothing can refuse the deposit.
        funding ??= await ledger.CreateFundingAccountAsync(tenantId, account.Currency, now, cancellationToken).ConfigureAwait(false);

        var fundingBalance = await ledger.DebitAsync(funding.Id, amount, cancellationToken).ConfigureAwait(false)
            ?? throw LockBroken(funding.Id);
        var balance = await ledger.CreditAsync(account.Id, amount, cancellationToken).ConfigureAwait(false)
            ?? throw LockBroken(account.Id);

        var deposit = new Deposit(Ids.New(Ids.Deposit), tenantId, account.Id, amount, account.Currency, balance.Balance, now);
        await ledger.InsertDepositAsync(deposit, cancellationToken).ConfigureAwait(false);
        await PostEntryAsync(ledger, tenantId, funding.Id, -amount, account.Currency, fundingBalance, MovementType.Deposit, deposit.Id, origin, now, cancellationToken).ConfigureAwait(false);
        await PostEntryAsync(ledger, tenantId, account.Id, amount, account.Currency, balance, MovementType.Deposit, deposit.Id, origin, now, cancellationToken).ConfigureAwait(false);
        return deposit;
    }

    /// <summary>
    /// Posts a succeeded card payment: the tenant's funding account (money from outside the ledger) to the merchant
    /// account. The account was checked when the payment was created; only the balance limit can refuse it now.
    /// </summary>
    public Task PostPaymentAsync(UnitOfWork work, string tenantId, string accountId, long amount, string paymentId, Origin origin, CancellationToken cancellationToken)
        => CreditFromFundingAsync(work, tenantId, accountId, amount, MovementType.Payment, paymentId, origin, cancellationToken);

    /// <summary>
    /// Takes a refund out of the merchant account back to the funding account, refused (writing nothing) when the
    /// account holds less than the refund. The account must already be locked by the caller.
    /// </summary>
    public async Task<LedgerError?> PostRefundAsync(UnitOfWork work, Account account, long amount, string refundId, Origin origin, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var now = Now();
        var balance = await ledger.DebitAsync(account.Id, amount, cancellationToken).ConfigureAwait(false);
        if (balance is null)
        {
            return new LedgerError(LedgerErrorKind.InsufficientFunds,
                $"Account {account.Id} holds less than the {amount} {account.Currency} minor units to refund. Nothing was refunded.", "amount");
        }

        var funding = await ledger.LockFundingAccountAsync(account.TenantId, account.Currency, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Account {account.Id} has money but its tenant has no funding account in {account.Currency}.");
        var fundingBalance = await ledger.CreditAsync(funding.Id, amount, cancellationToken).ConfigureAwait(false) ?? throw LockBroken(funding.Id);
        await PostEntryAsync(ledger, account.TenantId, account.Id, -amount, account.Currency, balance.Value, MovementType.Refund, refundId, origin, now, cancellationToken).ConfigureAwait(false);
        await PostEntryAsync(ledger, account.TenantId, funding.Id, amount, account.Currency, fundingBalance, MovementType.Refund, refundId, origin, now, cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>
    /// Puts a refund the processor refused back into the merchant account: the two entries of
    /// <see cref="PostRefundAsync"/> mirrored, as movement <c>refund_reversal</c> under the refund's id.
    /// </summary>
    public Task ReverseRefundAsync(UnitOfWork work, string tenantId, string accountId, long amount, string refundId, Origin origin, CancellationToken cancellationToken)
        => CreditFromFundingAsync(work, tenantId, accountId, amount, MovementType.RefundReversal, refundId, origin, cancellationToken);

    // Money from outside the ledger (the tenant's funding account, made on first use) into an account: locks the
    // account, then the funding account, in the order every movement takes them. Only the balance limits can refuse.
    private async Task CreditFromFundingAsync(
        UnitOfWork work, string tenantId, string accountId, long amount, MovementType type, string movementId, Origin origin, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var now = Now();
        var account = await ledger.LockAccountAsync(tenantId, accountId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The account {accountId} of {movementId} is gone.");
        var funding = await ledger.LockFundingAccountAsync(tenantId, account.Currency, cancellationToken).ConfigureAwait(false)
            ?? await ledger.CreateFundingAccountAsync(tenantId, account.Currency, now, cancellationToken).ConfigureAwait(false);
        var fundingBalance = await ledger.DebitAsync(funding.Id, amount, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Money from outside the ledger in {account.Currency} has reached the ledger's limit.");
        var balance = await ledger.CreditAsync(account.Id, amount, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"{movementId} would take account {account.Id} past its limit.");
        await PostEntryAsync(ledger, tenantId, funding.Id, -amount, account.Currency, fundingBalance, type, movementId, origin, now, cancellationToken).ConfigureAwait(false);
        await PostEntryAsync(ledger, tenantId, account.Id, amount, account.Currency, balance, type, movementId, origin, now, cancellationToken).ConfigureAwait(false);
    }

    private DateTimeOffset Now() => time.NowToTheMillisecond();

    /// <summary>Writes one side of a movement on an account whose balance just changed, chained to the account's previous entry.</summary>
    internal static Task PostEntryAsync(
        LedgerRepository ledger, string tenantId, string accountId, long amount, string currency, BalanceChange change, MovementType type, string movementId,
        Origin origin, DateTimeOffset now, CancellationToken cancellationToken)
        => ledger.InsertEntryAsync(
            new LedgerEntry(Ids.New(Ids.Entry), tenantId, accountId, amount, currency, change.Balance, type, movementId, now, origin), change.HeadHash, cancellationToken);

    /// <summary>
    /// Locks the two customer accounts of a movement between them in one statement, in id order whichever is debited (the
    /// order every movement takes accounts, so two never wait on each other in a cycle), and checks both exist and hold
    /// the movement's currency. <paramref name="movement"/> names it in the refusals ("transfer", "hold").
    /// </summary>
    internal static async Task<LedgerResult<AccountPair>> LockPairAsync(
        LedgerRepository ledger, string tenantId, string fromAccountId, string toAccountId, Currency currency, string movement, CancellationToken cancellationToken)
    {
        var locked = await ledger.LockAccountsAsync(tenantId, [fromAccountId, toAccountId], cancellationToken).ConfigureAwait(false);
        if (!locked.TryGetValue(fromAccountId, out var fromRow))
        {
            return NotFound(fromAccountId, "from_account");
        }

        if (!locked.TryGetValue(toAccountId, out var toRow))
        {
            return NotFound(toAccountId, "to_account");
        }

        var (from, to) = (fromRow.Account, toRow.Account);

        if (from.Currency != currency.Code || to.Currency != currency.Code)
        {
            return new LedgerError(LedgerErrorKind.CurrencyMismatch,
                $"The {movement} is in {currency.Code}, but account {from.Id} holds {from.Currency} and account {to.Id} holds {to.Currency}. Both accounts must hold the {movement}'s currency.",
                from.Currency != currency.Code ? "from_account" : "to_account");
        }

        return new AccountPair(from, to, fromRow.HeadHash, toRow.HeadHash);
    }

    internal static LedgerError NotFound(string accountId, string member)
        => new(LedgerErrorKind.AccountNotFound, $"No account {accountId} exists.", member);

    internal static LedgerError BalanceLimit(Account account, string member = "amount")
        => new(LedgerErrorKind.BalanceLimitExceeded,
            $"The movement would take account {account.Id} past its cap of {account.MaxBalance} minor units (it holds {account.Balance}, and holds promise it {account.PendingCredits} more). Nothing was moved.",
            member);

    internal static LedgerError InsufficientFunds(Account account, long amount, string verb)
        => new(LedgerErrorKind.InsufficientFunds,
            $"Account {account.Id} may spend {Math.Max(0, account.Spendable)} {account.Currency} minor units (its balance {account.Balance}, less {account.PendingDebits} held, plus an overdraft of {account.OverdraftLimit}), less than the {amount} to {verb}. Nothing was moved.",
            "amount");

    // The rows were locked and checked a moment ago; a refused update now means the locking is broken. Throwing rolls
    // the whole request back.
    internal static InvalidOperationException LockBroken(string accountId)
        => new($"The balance of account {accountId} changed while it was locked.");
}
