using System.Text.Json;
using System.Text.Json.Serialization;
using Idem.Messaging;
using Idem.Payments.Data;

namespace Idem.Payments.Events;

/// <summary>
/// The body of a <c>payment.succeeded</c>, <c>refund.succeeded</c> or <c>transfer.succeeded</c> event (snake_case JSON).
/// <paramref name="Amount"/> is positive minor units; <paramref name="Account"/> is the account the event is about (the
/// merchant account of a payment or refund, the debited account of a transfer, whose credited account is
/// <paramref name="ToAccount"/>).
/// </summary>
internal sealed record PaymentEvent(
    string Id, string Type, string Tenant, string Account, long Amount, string Currency, DateTimeOffset OccurredAt, string? ToAccount = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(PaymentEvent))]
internal sealed partial class PaymentEventsJsonContext : JsonSerializerContext;

/// <summary>
/// Writes the service's events to the outbox, in the transaction of the change that made them final, so an event exists
/// exactly when its change committed. The message id is derived from the entity (<c>payment.succeeded:pay_…</c>): one
/// change can only ever be one message, and the consumers' inboxes deduplicate on it.
/// </summary>
internal sealed class PaymentEvents(IOutbox outbox)
{
    public const string PaymentSucceeded = "payment.succeeded";
    public const string RefundSucceeded = "refund.succeeded";
    public const string TransferSucceeded = "transfer.succeeded";

    public Task EnqueueAsync(UnitOfWork work, PaymentEvent @event, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var transaction = work.RequireTransaction();
        var message = new Message(@event.Type, JsonSerializer.SerializeToUtf8Bytes(@event, PaymentEventsJsonContext.Default.PaymentEvent))
        {
            Id = $"{@event.Type}:{@event.Id}",
            Aggregate = @event.Account,
            ContentType = "application/json",
        };
        return outbox.EnqueueAsync(transaction, message, cancellationToken).AsTask();
    }

    public static PaymentEvent? Read(Message message)
        => JsonSerializer.Deserialize(message.Body.Span, PaymentEventsJsonContext.Default.PaymentEvent);
}
