using System.Text.Json;
using Idem.Messaging;

/// <summary>
/// Writes a receipt for each order placed, in the inbox's transaction: the receipt and the message's id commit
/// together, so a redelivered event is skipped, and a handler that throws leaves nothing (the delivery is retried).
/// </summary>
public sealed class ReceiptHandler : IMessageHandler
{
    public async ValueTask HandleAsync(MessageContext context, CancellationToken cancellationToken)
    {
        var placed = JsonSerializer.Deserialize<OrderPlaced>(context.Message.Body.Span, JsonSerializerOptions.Web)
            ?? throw new InvalidOperationException("An order.placed event without a body.");

        await using var insert = context.Connection.CreateCommand();
        insert.Transaction = context.Transaction;
        insert.CommandText = "INSERT INTO receipts (order_id, amount) VALUES ($order, $amount)";
        var order = insert.CreateParameter();
        order.ParameterName = "$order";
        order.Value = placed.OrderId;
        insert.Parameters.Add(order);
        var amount = insert.CreateParameter();
        amount.ParameterName = "$amount";
        amount.Value = placed.Amount;
        insert.Parameters.Add(amount);
        await insert.ExecuteNonQueryAsync(cancellationToken);

        if (placed.Amount < 0)
        {
            throw new InvalidOperationException($"Order {placed.OrderId} has a negative amount.");
        }
    }
}

public sealed record OrderPlaced(string OrderId, long Amount);
