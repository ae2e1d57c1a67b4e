using System.Data.Common;
using Idem.Payments.Data;
using Idem.Payments.Processor;
using Microsoft.Data.Sqlite;

namespace Idem.Payments.Cards;

/// <summary>
/// Finishes payments and refunds abandoned at their recovery point (the client gave up, the node died): every
/// <see cref="PaymentsOptions.CompleterInterval"/> it takes those pending for longer than
/// <see cref="PaymentsOptions.AbandonedAfter"/>, asks the processor under their derived keys (which never charges
/// twice) and records the outcome with the same conditional update the request handler uses, so a client retry racing
/// it moves nothing twice. A client that retries later resumes at its key's recovery point, finds the outcome and gets it.
/// </summary>
internal sealed partial class PaymentCompleter(
    IPaymentsDatabase database, PaymentService service, PaymentsOptions options, TimeProvider time, ILogger<PaymentCompleter> logger) : BackgroundService
{
    private const int BatchSize = 50;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.CompleterInterval, time);
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

    /// <summary>One pass: returns how many payments and refunds it settled.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var before = time.GetUtcNow() - options.AbandonedAfter;
        List<Payment> payments;
        var refunds = new List<(Refund Refund, string ChargeId)>();
        var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var repository = new PaymentRepository(connection, null, database.Dialect);
            payments = await repository.ListPendingPaymentsAsync(before, BatchSize, cancellationToken).ConfigureAwait(false);
            foreach (var refund in await repository.ListPendingRefundsAsync(before, BatchSize, cancellationToken).ConfigureAwait(false))
            {
                // A refund is only ever made of a succeeded payment, which has its charge.
                var payment = await repository.FindPaymentAsync(refund.TenantId, refund.PaymentId, cancellationToken).ConfigureAwait(false)
                    ?? throw new InvalidOperationException($"Refund {refund.Id} has no payment.");
                refunds.Add((refund, payment.ChargeId!));
            }
        }

        var settled = 0;
        foreach (var payment in payments)
        {
            var charge = await service.ChargeAsync(payment, cancellationToken).ConfigureAwait(false);
            if (charge.Outcome is ProcessorOutcome.Succeeded or ProcessorOutcome.Declined)
            {
                await InTransactionAsync((c, t) => service.SettleAsync(c, t, database.Dialect, payment, charge, cancellationToken), cancellationToken).ConfigureAwait(false);
                LogSettled(logger, payment.Id);
                settled++;
            }
        }

        foreach (var (refund, chargeId) in refunds)
        {
            var result = await service.RefundAsync(refund, chargeId, cancellationToken).ConfigureAwait(false);
            if (result.Outcome is ProcessorOutcome.Succeeded or ProcessorOutcome.Refused)
            {
                await InTransactionAsync(
                    (c, t) => result.Outcome == ProcessorOutcome.Succeeded
                        ? service.SettleRefundAsync(c, t, database.Dialect, refund, result.Id!, cancellationToken)
                        : service.FailRefundAsync(c, t, database.Dialect, refund, cancellationToken),
                    cancellationToken).ConfigureAwait(false);
                LogSettled(logger, refund.Id);
                settled++;
            }
        }

        return settled;
    }

    private async Task InTransactionAsync<T>(Func<DbConnection, DbTransaction, Task<T>> work, CancellationToken cancellationToken)
    {
        var connection = await database.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // On SQLite, take the write lock first (BEGIN IMMEDIATE): a deferred transaction that reads and then writes may
            // be refused if another writer committed in between.
            var transaction = connection is SqliteConnection sqlite
                ? sqlite.BeginTransaction(deferred: false)
                : await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            await using (transaction.ConfigureAwait(false))
            {
                await work(connection, transaction).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(EventId = 200, Level = LogLevel.Information, Message = "Settled {Id}, abandoned at its recovery point.")]
    private static partial void LogSettled(ILogger logger, string id);

    [LoggerMessage(EventId = 201, Level = LogLevel.Warning, Message = "The completer's pass failed; it runs again at the next interval.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}

/// <summary>Settings of the payments service (section <c>Payments</c>).</summary>
internal sealed class PaymentsOptions
{
    /// <summary>How often the completer looks for abandoned payments and refunds.</summary>
    public TimeSpan CompleterInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a payment or refund stays pending before the completer takes it on (longer than a request's lease).</summary>
    public TimeSpan AbandonedAfter { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>The processor's deadline for one call, all retries included; below the endpoints' lease.</summary>
    public TimeSpan ProcessorDeadline { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one attempt at the processor may take.</summary>
    public TimeSpan ProcessorAttemptTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
