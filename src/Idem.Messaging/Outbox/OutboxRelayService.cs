using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.Outbox;

/// <summary>
/// Runs the relay while the host runs: at once when something was enqueued in this process (and, since that transaction
/// commits a moment later, every few milliseconds for a short while after), otherwise every
/// <see cref="MessagingOptions.RelayPollingInterval"/>; after a failure it waits, doubling from
/// <see cref="MessagingOptions.RelayRetryDelay"/> up to <see cref="MessagingOptions.RelayMaxRetryDelay"/>.
/// </summary>
internal sealed class OutboxRelayService(IServiceProvider services, IOptions<MessagingOptions> options, RelaySignal signal, TimeProvider time, ILogger<OutboxRelayService> logger) : BackgroundService
{
    private static readonly TimeSpan EagerInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan EagerWindow = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (services.GetService<IMessagePublisher>() is null)
        {
            Log.RelayDisabled(logger);
            return;
        }

        var relay = services.GetRequiredService<OutboxRelay>();
        var failures = 0;
        var eagerUntil = DateTimeOffset.MinValue;
        while (!stoppingToken.IsCancellationRequested)
        {
            signal.Reset();
            RelayPass pass;
            try
            {
                pass = await relay.RunPassAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                Log.RelayPassFailed(logger, ex);
                pass = new RelayPass(0, 0, 1, Busy: false);
            }

            if (pass.Failed > 0)
            {
                failures++;
                await DelayAsync(Backoff(failures), stoppingToken).ConfigureAwait(false);
                continue;
            }

            failures = 0;
            if (pass.Read == options.Value.RelayBatchSize)
            {
                continue;
            }

            var eager = !pass.Busy && time.GetUtcNow() < eagerUntil && pass.Read == 0;
            try
            {
                if (await signal.WaitAsync(eager ? EagerInterval : options.Value.RelayPollingInterval, time, stoppingToken).ConfigureAwait(false))
                {
                    eagerUntil = time.GetUtcNow() + EagerWindow;
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private TimeSpan Backoff(int failures)
    {
        var delay = options.Value.RelayRetryDelay * Math.Pow(2, Math.Min(failures - 1, 20));
        return delay < options.Value.RelayMaxRetryDelay ? delay : options.Value.RelayMaxRetryDelay;
    }

    private async Task DelayAsync(TimeSpan delay, CancellationToken stoppingToken)
    {
        try
        {
            await Task.Delay(delay, time, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }
}
