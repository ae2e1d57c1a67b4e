
namespace Idem.Payments.Accounts;

// Accounts, deposits and entries on the wire, snake_case through PaymentsJsonContext. Amounts are integer minor units;
// times are UTC ("2025-01-31T12:00:00.123Z"). Request members are nullable so that a missing member is reported by name
// (400 invalid-request) rather than as unreadable JSON.

/// <summary>
/// A new account: its currency, and optionally its limits: <c>overdraft_limit</c>, how far below zero it may go (default
/// 0), and <c>max_balance</c>, the most it may hold (a cap for accounts that are the platform's liability, e.g. a stored
/// value wallet; default the ledger's largest balance).
/// </summary>
internal sealed record CreateAccountRequest(string? Currency, long? OverdraftLimit = null, long? MaxBalance = null);

internal sealed record CreateDepositRequest(long? Amount);

/// <summary>
/// An account. <c>balance</c> and <c>posted</c> are the same: what its entries add up to. <c>pending</c> is the posted
/// balance with every pending hold applied (held debits taken off, promised credits added); <c>available</c> is what it may
/// still spend: posted less what holds reserve, plus its overdraft.
/// </summary>
internal sealed record AccountResponse(
    string Id, string Currency, long Balance, AccountBalances Balances, AccountLimits Limits, long Version, string? Nickname, Dictionary<string, string> Metadata,
    DateTime CreatedAt)
{
    public static AccountResponse From(Account account)
        => new(account.Id, account.Currency, account.Balance,
            new AccountBalances(account.Balance, account.Balance - account.PendingDebits + account.PendingCredits, account.Spendable),
            new AccountLimits(account.OverdraftLimit, account.MaxBalance),
            account.Version, account.Nickname, Web.Metadata.Parse(account.Metadata), account.CreatedAt.UtcDateTime);
}

/// <summary>An account's posted balance at <c>as_of</c>: the balance after <c>last_entry</c>, its newest entry made by then (null: none, and zero).</summary>
internal sealed record AccountBalanceAtResponse(string Id, string Currency, DateTime AsOf, long Balance, string? LastEntry);

internal sealed record AccountBalances(long Posted, long Pending, long Available);

internal sealed record AccountLimits(long OverdraftLimit, long MaxBalance);

/// <summary>
/// The body of <c>PATCH /v1/accounts/{id}</c>, for the OpenAPI document: members left out are left alone, null clears.
/// The handler reads the JSON itself to tell a missing member from a null one.
/// </summary>
internal sealed record UpdateAccountRequest(string? Nickname, Dictionary<string, string>? Metadata);

internal sealed record DepositResponse(string Id, string Account, long Amount, string Currency, long BalanceAfter, DateTime CreatedAt)
{
    public static DepositResponse From(Deposit deposit) => new(deposit.Id, deposit.AccountId, deposit.Amount, deposit.Currency, deposit.BalanceAfter, deposit.CreatedAt.UtcDateTime);
}

/// <summary>One ledger entry: <c>amount</c> is signed (negative: money left the account), <c>movement</c> the deposit or transfer id.</summary>
/// <remarks><c>hash</c> chains the entry to the account's previous one (null on entries made before the ledger chained them).</remarks>
internal sealed record EntryResponse(string Id, string Account, long Amount, string Currency, long BalanceAfter, string Type, string Movement, DateTime CreatedAt, string? Hash)
{
    public static EntryResponse From(LedgerEntry entry)
        => new(entry.Id, entry.AccountId, entry.Amount, entry.Currency, entry.BalanceAfter,
            MovementTypes.Name(entry.MovementType), entry.MovementId, entry.CreatedAt.UtcDateTime, entry.Hash);
}

/// <summary>A page of entries, newest first; pass <c>next_cursor</c> as <c>starting_after</c> for the next page.</summary>
internal sealed record EntryListResponse(IReadOnlyList<EntryResponse> Data, bool HasMore, string? NextCursor);
