using Idem.Messaging.Data;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.Messaging;

/// <summary>
/// Deletes, in batches, inbox rows (handled or failing, never dead-lettered) older than
/// <see cref="MessagingOptions.InboxRetention"/> and published outbox rows older than
/// <see cref="MessagingOptions.OutboxRetention"/>.
/// </summary>
internal sealed class MessagingPurge(MessagingDatabase database, IOptions<MessagingOptions> options)
{
    private const int BatchSize = 1000;

    public async Task<(int Inbox, int Outbox)> PurgeAsync(CancellationToken cancellationToken)
    {
        var now = database.Time.GetUtcNow();
        var inbox = await PurgeAsync(database.Sql.PurgeInbox, now - options.Value.InboxRetention, cancellationToken).ConfigureAwait(false);
        var outbox = await PurgeAsync(database.Sql.PurgeOutbox, now - options.Value.OutboxRetention, cancellationToken).ConfigureAwait(false);
        return (inbox, outbox);
    }

    private async Task<int> PurgeAsync(string sql, DateTimeOffset before, CancellationToken cancellationToken)
    {
        var total = 0;
        int purged;
        do
        {
            var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                using var command = Db.Command(connection, null, sql);
                database.AddTime(command, "@before", before);
                Db.AddInt(command, "@limit", BatchSize);
                purged = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                total += purged;
            }
        }
        while (purged == BatchSize);

        return total;
    }
}

/// <summary>Runs <see cref="MessagingPurge"/> every <see cref="MessagingOptions.PurgeInterval"/>.</summary>
internal sealed class MessagingPurgeService(MessagingPurge purge, IOptions<MessagingOptions> options, TimeProvider time, ILogger<MessagingPurgeService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Value.PurgeInterval <= TimeSpan.Zero)
        {
            return;
        }

        using var timer = new PeriodicTimer(options.Value.PurgeInterval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    var (inbox, outbox) = await purge.PurgeAsync(stoppingToken).ConfigureAwait(false);
                    if (inbox + outbox > 0)
                    {
                        Log.Purged(logger, inbox, outbox);
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.PurgeFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
