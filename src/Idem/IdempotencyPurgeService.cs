using Idem.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem;

/// <summary>Deletes records past their retention in batches, every <see cref="IdempotencyOptions.PurgeInterval"/>.</summary>
internal sealed class IdempotencyPurgeService(IServiceProvider services, IOptions<IdempotencyOptions> options, TimeProvider time, ILogger<IdempotencyPurgeService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = options.Value.PurgeInterval;
        if (interval <= TimeSpan.Zero || services.GetService(typeof(IIdempotencyStore)) is not IIdempotencyStore store)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval, time);
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
        {
            try
            {
                var batch = options.Value.PurgeBatchSize;
                int purged, total = 0;
                do
                {
                    purged = await store.PurgeAsync(time.GetUtcNow(), batch, stoppingToken).ConfigureAwait(false);
                    total += purged;
                }
                while (purged == batch && !stoppingToken.IsCancellationRequested);

                if (total > 0)
                {
                    Log.Purged(logger, total);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.PurgeFailed(logger, ex);
            }
        }
    }
}
