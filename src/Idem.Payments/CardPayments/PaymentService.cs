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
/// what the other started, and only one of them moves the money. A payment with manual capture is only authorised by
/// those phases; its capture or cancel runs the same three phases again, phase one being the conditional update that
/// takes the payment out of <c>requires_capture</c> (<see cref="RequestCaptureAsync"/>, <see cref="RequestCancelAsync"/>).
/// </summary>
internal sealed class PaymentService(IHttpClientFactory clients, LedgerService ledger, PaymentEvents events, TimeProvider time)
{
    // Made per call from the factory, which owns the handlers' lifetimes; this service is a singleton.
    private ProcessorClient Processor => new(clients.CreateClient(ProcessorClient.HttpClientName));

    /// <summary>Phase one of a payment: decides everything that can refuse it, then inserts it, pending.</summary>
    public async Task<PaymentResult> CreateAsync(
        UnitOfWork work, string tenantId, Origin origin, string accountId, long amount, Currency currency, string source, string captureMethod,
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
        var payment = new Payment(
            Ids.New(Ids.Payment), tenantId, account.Id, amount, currency.Code, source, PaymentStatus.Pending, key, null, null, 0, Now(), origin.Fingerprint, captureMethod);
        if (await payments.InsertPaymentAsync(payment, cancellationToken).ConfigureAwait(false))
        {
            return payment;
        }

        // The key made a payment before (its idempotency record has since expired): that payment is this one.
        var existing = await payments.FindPaymentByKeyAsync(tenantId, key, cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"A payment with key '{key}' conflicted but cannot be found.");
        return existing.AccountId == account.Id && existing.Amount == amount && existing.Currency == currency.Code && existing.Source == source
               && existing.CaptureMethod == captureMethod
            ? existing
            : PaymentResult.KeyReused(existing);
    }

    /// <summary>
    /// Phase two of a payment: the charge (or, with manual capture, the authorisation), under the payment's own key. Safe
    /// to run any number of times.
    /// </summary>
    public Task<ProcessorResult> ChargeAsync(Payment payment, CancellationToken cancellationToken) => payment.IsManual
        ? Processor.AuthorizeAsync(payment.Id, payment.Amount, payment.Currency, payment.Source, cancellationToken)
        : Processor.ChargeAsync(payment.Id, payment.Amount, payment.Currency, payment.Source, cancellationToken);

    /// <summary>
    /// Phase three of a payment: records the processor's final answer and posts the ledger entries of a success, unless
    /// someone recorded it first. An authorisation (manual capture) posts nothing: it waits for its capture. Returns the
    /// payment as it now stands.
    /// </summary>
    public async Task<Payment> SettleAsync(UnitOfWork work, Payment payment, ProcessorResult result, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var approved = result.Outcome == ProcessorOutcome.Succeeded;
        var status = !approved ? PaymentStatus.Declined : payment.IsManual ? PaymentStatus.RequiresCapture : PaymentStatus.Succeeded;
        DateTimeOffset? expiresAt = status == PaymentStatus.RequiresCapture
            ? ToTheMillisecond(result.ExpiresAt ?? throw new InvalidOperationException($"The processor authorised payment {payment.Id} without saying until when."))
            : null;
        var now = Now();
        if (await payments.SettlePaymentAsync(payment.Id, status, approved ? result.Id : null, result.DeclineCode, expiresAt, now, cancellationToken).ConfigureAwait(false)
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

        if (amount > payment.AmountCaptured - payment.Refunded)
        {
            return RefundResult.Failed(RefundError.ExceedsPayment, (payment.AmountCaptured - payment.Refunded).ToString(System.Globalization.CultureInfo.InvariantCulture));
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

    /// <summary>
    /// Phase one of a capture: what can refuse it is decided (the payment exists and takes manual capture, the amount is
    /// within the authorisation, the merchant account has room for it), then one conditional update moves the payment
    /// from <c>requires_capture</c> to <c>capturing</c> for this request. When that update changes nothing, a cancel, an
    /// expiry or another capture won; the payment as it now stands says which (a lapsed authorisation is marked
    /// <c>expired</c> here). A key that already captured this payment resumes its capture.
    /// </summary>
    public async Task<PaymentActionResult> RequestCaptureAsync(
        UnitOfWork work, string tenantId, Origin origin, string paymentId, long? amount, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var payment = await payments.FindPaymentAsync(tenantId, paymentId, cancellationToken).ConfigureAwait(false);
        if (payment is null)
        {
            return PaymentActionResult.Failed(PaymentActionError.PaymentNotFound, null);
        }

        var captureAmount = amount ?? payment.Amount;
        if (payment.CaptureKey is not null && payment.CaptureKey == origin.Key)
        {
            // This key's capture won before (its idempotency record has since expired): that capture is this one.
            return captureAmount == payment.CaptureAmount ? payment : PaymentActionResult.Failed(PaymentActionError.KeyReused, payment);
        }

        // Neither of these facts ever changes, so they may be decided from a plain read.
        if (!payment.IsManual)
        {
            return PaymentActionResult.Failed(PaymentActionError.NotAwaitingCapture, payment);
        }

        if (captureAmount > payment.Amount)
        {
            return PaymentActionResult.Failed(PaymentActionError.ExceedsAuthorization, payment);
        }

        if (payment.Status == PaymentStatus.RequiresCapture)
        {
            var account = await new LedgerRepository(work).FindAccountAsync(tenantId, payment.AccountId, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The account of payment {payment.Id} is gone.");
            if (account.Room < captureAmount)
            {
                return new PaymentActionResult(null, PaymentActionError.BalanceLimit, payment, LedgerService.BalanceLimit(account));
            }
        }

        var now = Now();
        if (await payments.RequestCaptureAsync(tenantId, payment.Id, captureAmount, origin, now, cancellationToken).ConfigureAwait(false))
        {
            return await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
        }

        return await LostAsync(payments, payment, now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Phase one of a cancel: one conditional update moves the payment from <c>requires_capture</c> to <c>canceling</c>
    /// for this request, or changes nothing because a capture, an expiry or another cancel won. A key that already
    /// canceled this payment resumes its cancel.
    /// </summary>
    public async Task<PaymentActionResult> RequestCancelAsync(UnitOfWork work, string tenantId, Origin origin, string paymentId, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var payment = await payments.FindPaymentAsync(tenantId, paymentId, cancellationToken).ConfigureAwait(false);
        if (payment is null)
        {
            return PaymentActionResult.Failed(PaymentActionError.PaymentNotFound, null);
        }

        if (payment.CancelKey is not null && payment.CancelKey == origin.Key)
        {
            return payment;
        }

        if (!payment.IsManual)
        {
            return PaymentActionResult.Failed(PaymentActionError.NotAwaitingCapture, payment);
        }

        var now = Now();
        if (await payments.RequestCancelAsync(tenantId, payment.Id, origin, now, cancellationToken).ConfigureAwait(false))
        {
            return await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
        }

        return await LostAsync(payments, payment, now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Phase two of a capture: the capture of the amount phase one recorded, under the payment's own capture key.</summary>
    public Task<ProcessorResult> CaptureAsync(Payment payment, CancellationToken cancellationToken)
        => Processor.CaptureAsync(payment.Id, payment.ChargeId!, payment.CaptureAmount!.Value, cancellationToken);

    /// <summary>Phase two of a cancel: the void, under the payment's own cancel key.</summary>
    public Task<ProcessorResult> CancelAsync(Payment payment, CancellationToken cancellationToken)
        => Processor.CancelAsync(payment.Id, payment.ChargeId!, cancellationToken);

    /// <summary>
    /// Phase three of a capture: records the processor's final answer unless someone recorded it first. The one call that
    /// moves the payment to <c>succeeded</c> posts the captured amount (movement <c>payment</c>, under the capture
    /// request's origin) and enqueues its event; an authorisation the processor found expired makes it <c>expired</c>.
    /// Returns the payment as it now stands.
    /// </summary>
    public async Task<Payment> SettleCaptureAsync(UnitOfWork work, Payment payment, ProcessorResult result, CancellationToken cancellationToken)
    {
        var payments = new PaymentRepository(work);
        var now = Now();
        switch (result.Outcome)
        {
            case ProcessorOutcome.Succeeded:
                if (await payments.SettleCaptureAsync(payment.Id, now, cancellationToken).ConfigureAwait(false))
                {
                    var captured = payment.CaptureAmount!.Value;
                    await ledger.PostPaymentAsync(work, payment.TenantId, payment.AccountId, captured, payment.Id, payment.CaptureOrigin, cancellationToken).ConfigureAwait(false);
                    await events.EnqueueAsync(work, new PaymentEvent(
                        payment.Id, PaymentEvents.PaymentSucceeded, payment.TenantId, payment.AccountId, captured, payment.Currency, now), cancellationToken).ConfigureAwait(false);
                }

                break;
            case ProcessorOutcome.Expired:
                await payments.FinishAsync(payment.Id, PaymentStatus.Capturing, PaymentStatus.Expired, now, cancellationToken).ConfigureAwait(false);
                break;
            default:
                // Only this service captures its authorisations, once, under one key: any other refusal is a broken invariant.
                throw new InvalidOperationException($"The processor refused to capture payment {payment.Id} ({result.DeclineCode ?? result.Outcome.ToString()}).");
        }

        return await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Phase three of a cancel: marks the payment <c>canceled</c> unless someone did first. An authorisation the processor
    /// found already expired is void all the same, so the cancel stands.
    /// </summary>
    public async Task<Payment> SettleCancelAsync(UnitOfWork work, Payment payment, ProcessorResult result, CancellationToken cancellationToken)
    {
        if (result.Outcome is not (ProcessorOutcome.Succeeded or ProcessorOutcome.Expired))
        {
            throw new InvalidOperationException($"The processor refused to cancel payment {payment.Id} ({result.DeclineCode ?? result.Outcome.ToString()}).");
        }

        var payments = new PaymentRepository(work);
        await payments.FinishAsync(payment.Id, PaymentStatus.Canceling, PaymentStatus.Canceled, Now(), cancellationToken).ConfigureAwait(false);
        return await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Marks lapsed authorisations <c>expired</c>, up to <paramref name="limit"/>; returns how many.</summary>
    public Task<int> ExpireAuthorizationsAsync(UnitOfWork work, int limit, CancellationToken cancellationToken)
        => new PaymentRepository(work).ExpireAuthorizationsAsync(Now(), limit, cancellationToken);

    // A capture or cancel whose conditional update changed nothing: who won is in the payment as it now stands. An
    // authorisation that lapsed unnoticed is marked expired now (the same conditional update the completer makes); the
    // payment is read again whether or not this update changed it, since the completer may have expired it meanwhile.
    private static async Task<PaymentActionResult> LostAsync(PaymentRepository payments, Payment payment, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var current = await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
        if (current.Status == PaymentStatus.RequiresCapture && current.AuthorizationExpiresAt <= now)
        {
            await payments.ExpirePaymentAsync(current.Id, now, cancellationToken).ConfigureAwait(false);
            current = await ReadAsync(payments, payment, cancellationToken).ConfigureAwait(false);
        }

        return PaymentActionResult.Failed(current.Status == PaymentStatus.Expired ? PaymentActionError.Expired : PaymentActionError.NotAwaitingCapture, current);
    }

    private static async Task<Payment> ReadAsync(PaymentRepository payments, Payment payment, CancellationToken cancellationToken)
        => await payments.FindPaymentAsync(payment.TenantId, payment.Id, cancellationToken).ConfigureAwait(false)
           ?? throw new InvalidOperationException($"Payment {payment.Id} vanished.");

    private static DateTimeOffset ToTheMillisecond(DateTimeOffset value)
    {
        var utc = value.ToUniversalTime();
        return new DateTimeOffset(utc.Ticks - (utc.Ticks % TimeSpan.TicksPerMillisecond), TimeSpan.Zero);
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

internal enum PaymentActionError
{
    KeyReused,
    PaymentNotFound,
    NotAwaitingCapture,
    Expired,
    ExceedsAuthorization,
    BalanceLimit,
}

/// <summary>
/// Phase one of a capture or cancel: the payment, moved to <c>capturing</c> or <c>canceling</c> for this request (or
/// already moved by it), or why not, with the payment as it stands (null when there is none) and, for a balance limit,
/// the ledger's error.
/// </summary>
internal readonly record struct PaymentActionResult(Payment? Value, PaymentActionError? Error, Payment? Current, LedgerError? LedgerError = null)
{
    public static implicit operator PaymentActionResult(Payment value) => new(value, null, value);

    public static PaymentActionResult Failed(PaymentActionError error, Payment? current) => new(null, error, current);
}

/// <summary>Phase one of a refund: the pending refund, or why there is none (with a detail value).</summary>
internal readonly record struct RefundResult(Refund? Value, RefundError? Error, string? Detail)
{
    public static implicit operator RefundResult(Refund value) => new(value, null, null);

    public static RefundResult Failed(RefundError error, string detail) => new(null, error, detail);
}
