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

/// <summary>An account. <paramref name="Metadata"/> is the canonical JSON of its metadata (see <c>Web.Metadata</c>).</summary>
internal sealed record Account(
    string Id, string TenantId, AccountKind Kind, string Currency, long Balance, long Version, DateTimeOffset CreatedAt, string? Nickname = null, string Metadata = "{}");

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
        _ => "deposit",
    };

    public static MovementType Parse(string value) => value switch
    {
        "transfer" => MovementType.Transfer,
        "payment" => MovementType.Payment,
        "refund" => MovementType.Refund,
        "refund_reversal" => MovementType.RefundReversal,
        _ => MovementType.Deposit,
    };
}

/// <summary>
/// One side of a movement on one account. <see cref="Amount"/> is signed: positive adds to the account's balance
/// (credit), negative takes from it (debit). The entries of one movement sum to zero.
/// </summary>
internal sealed record LedgerEntry(string Id, string TenantId, string AccountId, long Amount, string Currency, long BalanceAfter, MovementType MovementType, string MovementId, DateTimeOffset CreatedAt);
