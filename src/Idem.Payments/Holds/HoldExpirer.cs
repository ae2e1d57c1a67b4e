using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Microsoft.Extensions.Options;

namespace Idem.Payments.Holds;

/// <summary>
/// Releases holds whose time ran out, on every node: each pass expires them one per transaction, oldest first, until none
/// is left. The database's clock decides what has expired, and each hold is locked (skipped when another node has it) and
/// moved from <c>pending</c> by a conditional update, so a hold expires exactly once however many nodes run this, and
/// never after a capture or void won it.
/// </summary>
internal sealed partial class HoldExpirer(IPaymentsDatabase database, HoldService holds, IOptions<PaymentsOptions> settings, TimeProvider time, ILogger<HoldExpirer> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(settings.Value.HoldExpiryInterval, time);
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

    /// <summary>One pass: returns how many holds it expired.</summary>
    public async Task<int> RunOnceAsync(CancellationToken cancellationToken)
    {
        var expired = 0;
        while (true)
        {
            var work = await database.BeginAsync(cancellationToken).ConfigureAwait(false);
            await using (work.ConfigureAwait(false))
            {
                if (!await holds.ExpireNextAsync(work, cancellationToken).ConfigureAwait(false))
                {
                    return expired;
                }

                await work.CommitAsync(cancellationToken).ConfigureAwait(false);
                expired++;
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "A pass of the hold expirer failed; the next pass tries again.")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
