namespace Idem.Payments.Holds;

/// <summary>
/// A two-phase transfer: <see cref="Amount"/> is reserved on <see cref="FromAccountId"/> (its pending debits) and promised
/// to <see cref="ToAccountId"/> (its pending credits) until it is captured (all or part moves; the rest is released),
/// voided, or expires at <see cref="ExpiresAt"/> by the database's clock.
/// </summary>
internal sealed record Hold(
    string Id, string TenantId, string FromAccountId, string ToAccountId, long Amount, string Currency, string Status, long CapturedAmount,
    DateTimeOffset ExpiresAt, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt);

/// <summary>Where a hold stands. Only a pending hold reserves money; the other three are final.</summary>
internal static class HoldStatus
{
    public const string Pending = "pending";
    public const string Captured = "captured";
    public const string Voided = "voided";
    public const string Expired = "expired";
}
