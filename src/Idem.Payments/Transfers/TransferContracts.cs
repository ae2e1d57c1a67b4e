namespace Idem.Payments.Transfers;

// Transfers on the wire (snake_case through PaymentsJsonContext).

internal sealed record CreateTransferRequest(string? FromAccount, string? ToAccount, long? Amount, string? Currency);

internal sealed record TransferResponse(string Id, string Status, string FromAccount, string ToAccount, long Amount, string Currency, DateTime CreatedAt)
{
    public static TransferResponse From(Transfer transfer)
        => new(transfer.Id, transfer.Status, transfer.FromAccountId, transfer.ToAccountId, transfer.Amount, transfer.Currency, transfer.CreatedAt.UtcDateTime);
}
