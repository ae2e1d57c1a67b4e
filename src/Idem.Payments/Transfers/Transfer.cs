namespace Idem.Payments.Transfers;

internal sealed record Transfer(string Id, string TenantId, string FromAccountId, string ToAccountId, long Amount, string Currency, string Status, DateTimeOffset CreatedAt);

/// <summary>Where a transfer stands. A transfer the ledger refuses is never written, so every stored one succeeded.</summary>
internal static class TransferStatus
{
    public const string Succeeded = "succeeded";
}
