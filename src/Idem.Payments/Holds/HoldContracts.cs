namespace Idem.Payments.Holds;

// Holds on the wire (snake_case through PaymentsJsonContext).

/// <summary><c>expires_in</c> is in seconds, from 1 to 30 days; one day when left out.</summary>
internal sealed record CreateHoldRequest(string? FromAccount, string? ToAccount, long? Amount, string? Currency, long? ExpiresIn);

/// <summary>The amount to capture; all of the hold when left out. What is not captured is released.</summary>
internal sealed record CaptureHoldRequest(long? Amount);

internal sealed record HoldResponse(
    string Id, string Status, string FromAccount, string ToAccount, long Amount, long CapturedAmount, string Currency, DateTime ExpiresAt, DateTime CreatedAt,
    DateTime UpdatedAt)
{
    public static HoldResponse From(Hold hold)
        => new(hold.Id, hold.Status, hold.FromAccountId, hold.ToAccountId, hold.Amount, hold.CapturedAmount, hold.Currency, hold.ExpiresAt.UtcDateTime,
            hold.CreatedAt.UtcDateTime, hold.UpdatedAt.UtcDateTime);
}
