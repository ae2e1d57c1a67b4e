using System.ComponentModel.DataAnnotations;
using Idem.Storage;
using Idem.Payments.Data;
using Idem.Payments.Processor;
using Microsoft.Extensions.Options;

namespace Idem.Payments.CardPayments;

/// <summary>
/// Finishes payments and refunds abandoned at their recovery point (the client gave up, the node died): every
/// <see cref="PaymentsOptions.CompleterInterval"/> it takes those pending for longer than
/// <see cref="PaymentsOptions.AbandonedAfter"/>, asks the processor under their derived keys (which never charges
/// twice) and records the outcome with the same conditional update the request handler uses, so a client retry racing
/// it moves nothing twice. A client that retries later resumes at its key's recovery point, finds the outcome and gets it.
/// Each node runs a completer; each item is claimed through the idempotency executor before the processor is asked, and read
/// again under the claim, so the nodes share the work instead of each asking the processor about every item. Captures and
/// cancels of authorised payments left <c>capturing</c> or <c>canceling</c> are finished the same way, and authorisations
/// that lapsed uncaptured are marked <c>expired</c> (the conditional update a capture would lose to).
/// </summary>
internal sealed partial class PaymentCompleter(
    IPaymentsDatabase database, PaymentService service, IIdempotentExecutor executor, IOptions<PaymentsOptions> settings, TimeProvider time, ILogger<PaymentCompleter> logger)
    : BackgroundService
{
    private readonly PaymentsOptions _options = settings.Value;

    private const int BatchSize = 50;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.CompleterInterval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                await RunOnceAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                LogFailed(logger, ex);
            }
        }
    }

    /// <summary>One pass: returns how many payments, refunds, captures and cancels it settled, and authorisations it expired.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var before = time.GetUtcNow() - _options.AbandonedAfter;
        List<Payment> payments;
        List<Refund> refunds;
        List<Payment> inFlight;
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new PaymentRepository(work);
            payments = await repository.ListPendingPaymentsAsync(before, BatchSize, cancellationToken).ConfigureAwait(false);
            refunds = await repository.ListPendingRefundsAsync(before, BatchSize, cancellationToken).ConfigureAwait(false);
            inFlight = await repository.ListInFlightPaymentsAsync(before, BatchSize, cancellationToken).ConfigureAwait(false);
        }

        // One conditional statement, with no processor to ask: every node may run it, and a capture racing it loses or wins whole.
        var settled = await InTransactionAsync(w => service.ExpireAuthorizationsAsync(w, BatchSize, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (settled > 0)
        {
            LogExpired(logger, settled);
        }

        foreach (var listed in payments)
        {
            settled += await UnderClaimAsync("payment", listed.Id, () => CompletePaymentAsync(listed, cancellationToken), cancellationToken).ConfigureAwait(false) ? 1 : 0;
        }

        foreach (var listed in refunds)
        {
            settled += await UnderClaimAsync("refund", listed.Id, () => CompleteRefundAsync(listed, cancellationToken), cancellationToken).ConfigureAwait(false) ? 1 : 0;
        }

        foreach (var listed in inFlight)
        {
            var kind = listed.Status == PaymentStatus.Capturing ? "capture" : "cancel";
            settled += await UnderClaimAsync(kind, listed.Id, () => CompleteCaptureOrCancelAsync(listed, cancellationToken), cancellationToken).ConfigureAwait(false) ? 1 : 0;
        }

        return settled;
    }

    /// <summary>
    /// Runs the completer now for one of the tenant's payments, without waiting for it to count as abandoned (the
    /// console's action): the same claim, the same derived processor key and the same conditional settle as a pass, so
    /// running it twice, or beside a pass, a client retry or another node, settles the payment once.
    /// </summary>
    public async Task<CompleteNowResult> CompletePaymentNowAsync(string tenantId, string paymentId, CancellationToken cancellationToken)
    {
        var payment = await ReadAsync(r => r.FindPaymentAsync(tenantId, paymentId, cancellationToken), cancellationToken).ConfigureAwait(false);
        var settled = payment?.Status switch
        {
            null => (bool?)null,
            PaymentStatus.Pending => await UnderClaimAsync("payment", payment.Id, () => CompletePaymentAsync(payment, cancellationToken), cancellationToken).ConfigureAwait(false),
            PaymentStatus.Capturing or PaymentStatus.Canceling => await UnderClaimAsync(
                payment.Status == PaymentStatus.Capturing ? "capture" : "cancel", payment.Id, () => CompleteCaptureOrCancelAsync(payment, cancellationToken), cancellationToken).ConfigureAwait(false),
            _ => false,
        };
        return settled switch
        {
            null => CompleteNowResult.NotFound,
            true => CompleteNowResult.Settled,
            false when payment!.Status is PaymentStatus.Pending or PaymentStatus.Capturing or PaymentStatus.Canceling => CompleteNowResult.StillPending,
            false => CompleteNowResult.NothingToDo,
        };
    }

    // Each item is read again under the claim: another node may have settled it and let go between the list and now.
    private async Task<bool> CompletePaymentAsync(Payment listed, CancellationToken cancellationToken)
    {
        var payment = await ReadAsync(r => r.FindPaymentAsync(listed.TenantId, listed.Id, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (payment is not { Status: PaymentStatus.Pending })
        {
            return false;
        }

        var charge = await service.ChargeAsync(payment, cancellationToken).ConfigureAwait(false);
        if (charge.Outcome is not (ProcessorOutcome.Succeeded or ProcessorOutcome.Declined))
        {
            return false;
        }

        await InTransactionAsync(work => service.SettleAsync(work, payment, charge, cancellationToken), cancellationToken).ConfigureAwait(false);
        LogSettled(logger, payment.Id);
        return true;
    }

    private async Task<bool> CompleteRefundAsync(Refund listed, CancellationToken cancellationToken)
    {
        var refund = await ReadAsync(r => r.FindRefundByKeyAsync(listed.TenantId, listed.IdempotencyKey, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (refund is not { Status: RefundStatus.Pending })
        {
            return false;
        }

        // A refund is only ever made of a succeeded payment, which has its charge.
        var payment = await ReadAsync(r => r.FindPaymentAsync(refund.TenantId, refund.PaymentId, cancellationToken), cancellationToken).ConfigureAwait(false)
            ?? throw new InvalidOperationException($"Refund {refund.Id} has no payment.");
        var result = await service.RefundAsync(refund, payment.ChargeId!, cancellationToken).ConfigureAwait(false);
        if (result.Outcome is not (ProcessorOutcome.Succeeded or ProcessorOutcome.Refused))
        {
            return false;
        }

        await InTransactionAsync(
            work => result.Outcome == ProcessorOutcome.Succeeded
                ? service.SettleRefundAsync(work, refund, result.Id!, cancellationToken)
                : service.FailRefundAsync(work, refund, cancellationToken),
            cancellationToken).ConfigureAwait(false);
        LogSettled(logger, refund.Id);
        return true;
    }

    // A capture or cancel whose request stopped after phase one: phase two under the payment's derived key, then phase three.
    private async Task<bool> CompleteCaptureOrCancelAsync(Payment listed, CancellationToken cancellationToken)
    {
        var payment = await ReadAsync(r => r.FindPaymentAsync(listed.TenantId, listed.Id, cancellationToken), cancellationToken).ConfigureAwait(false);
        if (payment?.Status is not (PaymentStatus.Capturing or PaymentStatus.Canceling))
        {
            return false;
        }

        var capturing = payment.Status == PaymentStatus.Capturing;
        var result = capturing
            ? await service.CaptureAsync(payment, cancellationToken).ConfigureAwait(false)
            : await service.CancelAsync(payment, cancellationToken).ConfigureAwait(false);
        if (result.Outcome == ProcessorOutcome.Unknown)
        {
            return false;
        }

        await InTransactionAsync(
            work => capturing ? service.SettleCaptureAsync(work, payment, result, cancellationToken) : service.SettleCancelAsync(work, payment, result, cancellationToken),
            cancellationToken).ConfigureAwait(false);
        LogSettled(logger, payment.Id);
        return true;
    }

    /// <summary>The completer's operation on one payment or refund, in the idempotency store beside the requests' keys.</summary>
    internal static IdempotentOperation ClaimOperation(string kind, string id) => IdempotentOperation.Create("payments-completer." + kind, id);

    /// <summary>
    /// Runs <paramref name="complete"/> through the executor under this node's claim on one item, so that of several
    /// nodes' completers only one asks the processor about it at a time, and releases the claim afterwards, whatever
    /// happened: the item's own state, not a stored result, says whether it is finished. False when another node holds
    /// the item, the store is down, or finishing it failed (logged). The claim outlasts one processor call with all its
    /// retries (<see cref="PaymentsOptions.ProcessorDeadline"/>) by <see cref="PaymentsOptions.AbandonedAfter"/>, and is
    /// renewed while the item is worked on.
    /// </summary>
    private async Task<bool> UnderClaimAsync(string kind, string id, Func<Task<bool>> complete, CancellationToken cancellationToken)
    {
        var hold = _options.ProcessorDeadline + _options.AbandonedAfter;
        var operation = ClaimOperation(kind, id) with { LeaseDuration = hold, Retention = hold };
        var settled = false;
        try
        {
            await executor.ExecuteAsync(operation, complete, async (_, run, _) =>
            {
                settled = await run().ConfigureAwait(false);
                return OperationResult.Release();
            }, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // One item that cannot be finished (its settle breaks a ledger rule, say) must not hold back the rest of the
            // batch, pass after pass: it is logged, left pending, and tried again at the next pass.
            LogItemFailed(logger, id, ex);
            return false;
        }

        return settled;
    }

    private async Task<T> ReadAsync<T>(Func<PaymentRepository, Task<T>> read, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            return await read(new PaymentRepository(work)).ConfigureAwait(false);
        }
    }

    // A write transaction of its own (on SQLite it takes the write lock first, BEGIN IMMEDIATE).
    private async Task<T> InTransactionAsync<T>(Func<UnitOfWork, Task<T>> settle, CancellationToken cancellationToken)
    {
        var work = await database.BeginAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var result = await settle(work).ConfigureAwait(false);
            await work.CommitAsync(cancellationToken).ConfigureAwait(false);
            return result;
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Settled {Id}, abandoned at its recovery point.")]
    private static partial void LogSettled(ILogger logger, string id);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "The completer's pass failed; it runs again at the next interval.")]
    private static partial void LogFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 202, Level = LogLevel.Warning, Message = "The completer could not finish {Id}; it stays pending and is tried again at the next pass.")]
    private static partial void LogItemFailed(ILogger logger, string id, Exception exception);

    [LoggerMessage(EventId = 203, Level = LogLevel.Information, Message = "Marked {Count} uncaptured authorisations expired.")]
    private static partial void LogExpired(ILogger logger, int count);
}

/// <summary>What running the completer for one payment did.</summary>
internal enum CompleteNowResult
{
    /// <summary>The tenant has no such payment.</summary>
    NotFound,

    /// <summary>It was settled by this run.</summary>
    Settled,

    /// <summary>The processor gave no final answer (or another node holds the payment): it stays pending.</summary>
    StillPending,

    /// <summary>It was not waiting on the processor: there was nothing to finish.</summary>
    NothingToDo,
}

/// <summary>Settings of the payments service (section <c>Payments</c>), validated at start.</summary>
internal sealed class PaymentsOptions
{
    /// <summary>The configuration section these options bind from.</summary>
    public const string SectionName = "Payments";

    /// <summary>How often the completer looks for abandoned payments and refunds. Default 10 seconds; 10 ms to one day.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan CompleterInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a payment or refund stays pending before the completer takes it on (longer than a request's lease). Default 2 minutes; 1 second to one day.</summary>
    [Range(typeof(TimeSpan), "00:00:01", "1.00:00:00")]
    public TimeSpan AbandonedAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The processor's deadline for one call, all retries included; below the endpoints' lease. Default 5 seconds; 100 ms to 10 minutes.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ProcessorDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one attempt at the processor may take. Default 2 seconds; 100 ms to <see cref="ProcessorDeadline"/>.</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "00:10:00")]
    public TimeSpan ProcessorAttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often each node releases holds whose time ran out (by the database's clock). Default 1 second; 10 ms to one hour.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "01:00:00")]
    public TimeSpan HoldExpiryInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Runs deposits, transfers, holds and batches in group commit: concurrent requests share one database transaction,
    /// each in a savepoint of its own, so an account many of them touch is locked once per commit, not once per request.
    /// Unset, it is on for SQLite (its one writer commits once per batch: faster either way) and off for PostgreSQL, where
    /// one batch at a time is faster for a hot account but slower for spread ones (docs/benchmarks.md).
    /// </summary>
    public bool? GroupCommit { get; set; }
}

/// <summary>Checks the annotations of <see cref="PaymentsOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class PaymentsOptionsValidator : IValidateOptions<PaymentsOptions>;

/// <summary>The rule the annotations cannot state: one attempt at the processor fits in the call's deadline.</summary>
internal sealed class PaymentsProcessorTimeoutsValidator : IValidateOptions<PaymentsOptions>
{
    public ValidateOptionsResult Validate(string? name, PaymentsOptions options)
        => options.ProcessorAttemptTimeout > options.ProcessorDeadline
            ? ValidateOptionsResult.Fail(
                $"{nameof(PaymentsOptions.ProcessorAttemptTimeout)} ({options.ProcessorAttemptTimeout}) must be at most {nameof(PaymentsOptions.ProcessorDeadline)} ({options.ProcessorDeadline}).")
            : ValidateOptionsResult.Success;
}
