using Idem.Payments.Data;
using Idem.Payments.Events;
using Idem.Payments.Accounts;
using Idem.Payments.Processor;

namespace Idem.Payments.CardPayments;

/// <summary>
/// Card payments and refunds in atomic phases (docs/payments.md): phase one commits the payment or refund as
/// <c>pending</c> with the key's recovery point; phase two calls the processor under a key derived from the payment's or
/// refund's own id; phase three records the outcome (and, for a payment, its ledger entries) with one conditional
/// update. The request handler and the background completer run the same phases two and three, so either may finish
/// what the other started, and only one of them moves the money.
/// </summary>
internal sealed class PaymentService(IHttpClientFactory clients, LedgerService ledger, PaymentEvents events, TimeProvider time)
{
    // Made per call from the factory, which owns the handlers' lifetimes; this service is a singleton.
    private ProcessorClient Processor => new(clients.CreateClient(ProcessorClient.HttpClientName));

    /// <summary>Phase one of a payment: decides everything that can refuse it, then inserts it, pending.</summary>
    public async Task<PaymentResult> CreateAsync(
        UnitOfWork work, string tenantId, Origin origin, string accountId, long amount, Currency currency, string source,
        CancellationToken cancellationToken)
    {
        var accounts = new LedgerRepository(work);
        var account = await accounts.FindAccountAsync(tenantId, accountId, cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            return new LedgerError(LedgerErrorKind.AccountNotFound, $"No account {accountId} exists.", "account");
        }

        if (account.Currency != currency.Code)
        {
            return new LedgerError(LedgerErrorKind.CurrencyMismatch,
                $"The payment is in {currency.Code}, but account {account.Id} holds {account.Currency}.", "currency");
        }

        if (account.Room < amount)
        {
            return LedgerService.BalanceLimit(account);
        }

        var key = origin.Key!;

        var payments = new PaymentRepository(work);
        var payment = new Payment(Ids.New(Ids.Payment), tenantId, account.Id, amount, currency.Code, source, PaymentStatus.Pending, key, null, null, 0, Now(), origin.Fingerprint);
        if (await payments.InsertPaymentAsync(payment, cancellationToken).ConfigureAwait(false))
        {
            return payment;
        }

        // The key made a payment before (its idempotency record has since expired): that payment is this one.
        var existing = await payments.FindPaymentByKeyAsync(tenantId, key, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"A payment with key '{key}' conflicted but cannot be found.");
        return existing.AccountId == account.Id && existing.Amount == amount && existing.Currency == currency.Code && existing.Source == source
            ? existing
            : PaymentResult.KeyReused(existing);
    }

    /// <summary>Phase two of a payment: the charge, under the payment's own key. Safe to run any number of times.</summary>
    public Task<ProcessorResult> ChargeAsync(Payment payment, CancellationToken cancellationToken)
        => Processor.ChargeAsync(payment.Id, payment.Amount, payment.Currency, payment.Source, cancellationToken);

    /// <summary>
    /// Phase three of a payment: records the processor's final answer and posts the ledger entries of a success, unless
    /// someone recorded it first. Returns the payment as it now stands.
    /// </summary>
    public async Task<Payment> SettleAsync(UnitOfWork work, Payment payment, ProcessorResult result, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var status = result.Outcome == ProcessorOutcome.Succeeded ? PaymentStatus.Succeeded : PaymentStatus.Declined;
        var now = Now();
        if (await payments.SettlePaymentAsync(payment.Id, status, result.Outcome == ProcessorOutcome.Succeeded ? result.Id : null, result.DeclineCode, now, cancellationToken).ConfigureAwait(false)
            && status == PaymentStatus.Succeeded)
        {
            await ledger.PostPaymentAsync(work, payment.TenantId, payment.AccountId, payment.Amount, payment.Id, payment.Origin, cancellationToken).ConfigureAwait(false);

            // Only the call that moved the payment to succeeded gets here, in the transaction that did it.
            await events.EnqueueAsync(work, new PaymentEvent(
                payment.Id, PaymentEvents.PaymentSucceeded, payment.TenantId, payment.AccountId, payment.Amount, payment.Currency, now), cancellationToken).ConfigureAwait(false);
        }

        return await payments.FindPaymentAsync(payment.TenantId, payment.Id, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Payment {payment.Id} vanished.");
    }

    /// <summary>
    /// Phase one of a refund: the payment's refundable amount and the merchant's balance decide; then the amount is
    /// reserved on the payment (one conditional update), the refund inserted, pending, and its money moved back to the
    /// funding account, all in the phase's transaction.
    /// </summary>
    public async Task<RefundResult> CreateRefundAsync(
        UnitOfWork work, string tenantId, Origin origin, string paymentId, long amount, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var existing = await payments.FindRefundByKeyAsync(tenantId, origin.Key!, cancellationToken).ConfigureAwait(false);
        if (existing is not null)
        {
            return existing.PaymentId == paymentId && existing.Amount == amount ? existing : RefundResult.Failed(RefundError.KeyReused, existing.Id);
        }

        var payment = await payments.LockPaymentAsync(tenantId, paymentId, cancellationToken).ConfigureAwait(false);
        if (payment is null)
        {
            return RefundResult.Failed(RefundError.PaymentNotFound, paymentId);
        }

        if (payment.Status != PaymentStatus.Succeeded)
        {
            return RefundResult.Failed(RefundError.NotRefundable, payment.Status);
        }

        if (amount > payment.Amount - payment.Refunded)
        {
            return RefundResult.Failed(RefundError.ExceedsPayment, (payment.Amount - payment.Refunded).ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        var accounts = new LedgerRepository(work);
        var account = await accounts.LockAccountAsync(tenantId, payment.AccountId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The account of payment {payment.Id} is gone.");
        if (account.Spendable < amount)
        {
            return RefundResult.Failed(RefundError.InsufficientFunds, account.Id);
        }

        var now = Now();
        if (!await payments.ReserveRefundAsync(tenantId, payment.Id, amount, now, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Payment {payment.Id} changed while it was locked.");
        }

        var refund = new Refund(Ids.New(Ids.Refund), tenantId, payment.Id, amount, payment.Currency, RefundStatus.Pending, origin.Key!, null, now, origin.Fingerprint);
        await payments.InsertRefundAsync(refund, cancellationToken).ConfigureAwait(false);
        if (await ledger.PostRefundAsync(work, account, amount, refund.Id, refund.Origin, cancellationToken).ConfigureAwait(false) is { } error)
        {
            throw new InvalidOperationException(error.Detail);
        }

        return refund;
    }

    /// <summary>Phase two of a refund, under the refund's own key.</summary>
    public Task<ProcessorResult> RefundAsync(Refund refund, string chargeId, CancellationToken cancellationToken)
        => Processor.RefundAsync(refund.Id, chargeId, refund.Amount, cancellationToken);

    /// <summary>Phase three of a refund: marks it succeeded unless someone did first.</summary>
    public async Task<Refund> SettleRefundAsync(UnitOfWork work, Refund refund, string processorRefundId, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var now = Now();
        if (await payments.SettleRefundAsync(refund.Id, processorRefundId, now, cancellationToken).ConfigureAwait(false))
        {
            var payment = await payments.FindPaymentAsync(refund.TenantId, refund.PaymentId, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The payment {refund.PaymentId} of refund {refund.Id} is gone.");
            await events.EnqueueAsync(work, new PaymentEvent(
                refund.Id, PaymentEvents.RefundSucceeded, refund.TenantId, payment.AccountId, refund.Amount, refund.Currency, now), cancellationToken).ConfigureAwait(false);
        }

        return await payments.FindRefundByKeyAsync(refund.TenantId, refund.IdempotencyKey, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Refund {refund.Id} vanished.");
    }

    /// <summary>
    /// Phase three of a refund the processor refused for good: marks it failed unless someone settled or failed it first,
    /// and then gives its amount back to the payment's refundable total and to the merchant account. Locks the payment,
    /// the account and the funding account, in phase one's order.
    /// </summary>
    public async Task<Refund> FailRefundAsync(UnitOfWork work, Refund refund, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var payment = await payments.LockPaymentAsync(refund.TenantId, refund.PaymentId, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"The payment {refund.PaymentId} of refund {refund.Id} is gone.");
        var now = Now();
        if (await payments.FailRefundAsync(refund.Id, now, cancellationToken).ConfigureAwait(false))
        {
            if (!await payments.ReleaseRefundAsync(refund.TenantId, payment.Id, refund.Amount, now, cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"Payment {payment.Id} has less refunded than its pending refund {refund.Id}.");
            }

            await ledger.ReverseRefundAsync(work, refund.TenantId, payment.AccountId, refund.Amount, refund.Id, refund.Origin, cancellationToken).ConfigureAwait(false);
        }

        return await payments.FindRefundByKeyAsync(refund.TenantId, refund.IdempotencyKey, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Refund {refund.Id} vanished.");
    }

    private DateTimeOffset Now() => time.NowToTheMillisecond();
}

/// <summary>Phase one of a payment: the pending payment, or why there is none.</summary>
internal readonly record struct PaymentResult(Payment? Value, LedgerError? Error, Payment? Conflicting)
{
    public static implicit operator PaymentResult(Payment value) => new(value, null, null);

    public static implicit operator PaymentResult(LedgerError error) => new(null, error, null);

    public static PaymentResult KeyReused(Payment existing) => new(null, null, existing);
}

internal enum RefundError
{
    KeyReused,
    PaymentNotFound,
    NotRefundable,
    ExceedsPayment,
    InsufficientFunds,
}

/// <summary>Phase one of a refund: the pending refund, or why there is none (with a detail value).</summary>
internal readonly record struct RefundResult(Refund? Value, RefundError? Error, string? Detail)
{
    public static implicit operator RefundResult(Refund value) => new(value, null, null);

    public static RefundResult Failed(RefundError error, string detail) => new(null, error, detail);
}
