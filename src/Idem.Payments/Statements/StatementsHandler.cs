using System.Globalization;
using Idem.Messaging;
using Idem.Payments.Data;
using Idem.Payments.Events;

namespace Idem.Payments.Statements;

/// <summary>
/// The statements consumer: turns each succeeded payment, refund and transfer into lines of the monthly statements of
/// the accounts it touched (a transfer: one line on each side). It writes only through the inbox's connection and
/// transaction, so the lines of one event commit exactly once, together with the inbox record.
/// </summary>
internal sealed class StatementsHandler(IPaymentsDatabase database) : IMessageHandler
{
    public const string ConsumerName = "statements";

    public static readonly string[] MessageTypes = ["payment.succeeded", "refund.succeeded", "transfer.succeeded"];

    public async ValueTask HandleAsync(MessageContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        var @event = PaymentEvents.Read(context.Message)
            ?? throw new InvalidOperationException($"Message {context.Message.Id} has no event in its body.");
        var month = MonthOf(@event.OccurredAt);
        var lines = new StatementRepository(database.Join(context));
        switch (context.Message.Type)
        {
            case PaymentEvents.PaymentSucceeded:
                await lines.InsertAsync(Line(@event, @event.Account, @event.Amount, month), cancellationToken).ConfigureAwait(false);
                break;
            case PaymentEvents.RefundSucceeded:
                await lines.InsertAsync(Line(@event, @event.Account, -@event.Amount, month), cancellationToken).ConfigureAwait(false);
                break;
            case PaymentEvents.TransferSucceeded:
                var to = @event.ToAccount ?? throw new InvalidOperationException($"Transfer event {context.Message.Id} has no to_account.");
                await lines.InsertAsync(Line(@event, @event.Account, -@event.Amount, month), cancellationToken).ConfigureAwait(false);
                await lines.InsertAsync(Line(@event, to, @event.Amount, month), cancellationToken).ConfigureAwait(false);
                break;
            default:
                // Bound to the three types above; anything else is a wiring mistake worth a dead letter, not a silent skip.
                throw new InvalidOperationException($"The statements consumer does not handle '{context.Message.Type}'.");
        }
    }

    /// <summary>The statement month of a moment: its UTC year and month, e.g. <c>2026-11</c>.</summary>
    public static string MonthOf(DateTimeOffset moment) => moment.UtcDateTime.ToString("yyyy-MM", CultureInfo.InvariantCulture);

    private static StatementLine Line(PaymentEvent @event, string account, long amount, string month)
        => new(@event.Tenant, account, month, @event.Id, @event.Type, amount, @event.Currency, @event.OccurredAt);
}
