namespace Idem.Payments.Accounts;

/// <summary>Why the ledger refused a movement. Each maps to one problem type.</summary>
internal enum LedgerErrorKind
{
    /// <summary>An account does not exist, or belongs to another tenant.</summary>
    AccountNotFound,

    /// <summary>The currencies of the accounts and the movement differ.</summary>
    CurrencyMismatch,

    /// <summary>The account to debit holds less than the amount.</summary>
    InsufficientFunds,

    /// <summary>The movement would take a balance past the ledger's limit.</summary>
    BalanceLimitExceeded,
}

/// <summary>A refusal: what rule, a sentence for the client, and the request member it is about.</summary>
internal sealed record LedgerError(LedgerErrorKind Kind, string Detail, string? Member = null);

/// <summary>Either the movement that happened or why nothing happened.</summary>
internal readonly record struct LedgerResult<T>(T? Value, LedgerError? Error)
    where T : class
{
    public static implicit operator LedgerResult<T>(T value) => new(value, null);

    public static implicit operator LedgerResult<T>(LedgerError error) => new(null, error);
}
