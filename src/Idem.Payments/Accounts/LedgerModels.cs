namespace Idem.Payments.Accounts;

/// <summary>Whose money an account holds.</summary>
internal enum AccountKind
{
    /// <summary>An account a tenant opened through the API.</summary>
    Customer,

    /// <summary>
    /// The tenant's per-currency system account standing for money outside the ledger: deposits are debited from it, so
    /// every movement has two sides and the ledger sums to zero. Never visible through the API.
    /// </summary>
    Funding,
}

/// <summary>
/// An account. <paramref name="Metadata"/> is the canonical JSON of its metadata (see <c>Web.Metadata</c>).
/// <paramref name="Balance"/> is the posted balance; holds reserve <paramref name="PendingDebits"/> of it and promise
/// <paramref name="PendingCredits"/> to it. Its limits: nothing may take <c>Balance - PendingDebits</c> below
/// <c>-OverdraftLimit</c>, nor <c>Balance + PendingCredits</c> above <paramref name="MaxBalance"/>. A funding account's
/// limits are the ledger's own (<see cref="Money.MaxBalance"/> below zero, never above zero).
/// </summary>
internal sealed record Account(
    string Id, string TenantId, AccountKind Kind, string Currency, long Balance, long Version, DateTimeOffset CreatedAt, string? Nickname = null, string Metadata = "{}",
    long OverdraftLimit = 0, long MaxBalance = Money.MaxBalance, long PendingDebits = 0, long PendingCredits = 0)
{
    /// <summary>What the account may still spend: its posted balance less what holds reserve, plus its overdraft.</summary>
    public long Spendable => Balance - PendingDebits + OverdraftLimit;

    /// <summary>What the account may still receive before it reaches its cap, counting what holds promise it.</summary>
    public long Room => MaxBalance - Balance - PendingCredits;
}

/// <summary>
/// The client request a movement comes from: its idempotency key and fingerprint, written on each of its entries so every
/// movement is tied to exactly one client operation. Both null only for entries made before the ledger recorded them.
/// </summary>
internal readonly record struct Origin(string? Key, string? Fingerprint)
{
    public static Origin Of(IIdempotencyContext context) => new(context.Key, context.Fingerprint);
}

internal sealed record Deposit(string Id, string TenantId, string AccountId, long Amount, string Currency, long BalanceAfter, DateTimeOffset CreatedAt);

/// <summary>What kind of movement an entry belongs to.</summary>
internal enum MovementType
{
    Deposit,
    Transfer,

    /// <summary>A card payment into a merchant account.</summary>
    Payment,

    /// <summary>A refund out of a merchant account.</summary>
    Refund,

    /// <summary>A refund the processor refused for good, its money put back into the merchant account.</summary>
    RefundReversal,

    /// <summary>The captured part of a hold, moved from the account it reserved money on to the account it promised it to.</summary>
    HoldCapture,
}

/// <summary>The names movement types have in the database and on the wire.</summary>
internal static class MovementTypes
{
    public static string Name(MovementType type) => type switch
    {
        MovementType.Transfer => "transfer",
        MovementType.Payment => "payment",
        MovementType.Refund => "refund",
        MovementType.RefundReversal => "refund_reversal",
        MovementType.HoldCapture => "hold_capture",
        _ => "deposit",
    };

    public static MovementType Parse(string value) => value switch
    {
        "transfer" => MovementType.Transfer,
        "payment" => MovementType.Payment,
        "refund" => MovementType.Refund,
        "refund_reversal" => MovementType.RefundReversal,
        "hold_capture" => MovementType.HoldCapture,
        _ => MovementType.Deposit,
    };
}

/// <summary>
/// One side of a movement on one account. <see cref="Amount"/> is signed: positive adds to the account's balance
/// (credit), negative takes from it (debit). The entries of one movement sum to zero. <see cref="Hash"/> covers the
/// entry's content, its <see cref="Origin"/> and <see cref="PrevHash"/>, the hash of the account's previous entry
/// (<see cref="EntryHash"/>); null on entries made before the ledger chained them.
/// </summary>
internal sealed record LedgerEntry(
    string Id, string TenantId, string AccountId, long Amount, string Currency, long BalanceAfter, MovementType MovementType, string MovementId, DateTimeOffset CreatedAt,
    Origin Origin = default, string? PrevHash = null, string? Hash = null);

/// <summary>The two accounts of a movement between them, locked, each with its head hash (its next entry's <c>prev_hash</c>).</summary>
internal sealed record AccountPair(Account From, Account To, string? FromHead, string? ToHead);

/// <summary>An account's balance after a change, and the hash of its newest entry before it (the next entry's <c>prev_hash</c>).</summary>
internal readonly record struct BalanceChange(long Balance, string? HeadHash);
