using Idem.Messaging.Data;
using Microsoft.Extensions.Hosting;

namespace Idem.Messaging;

/// <summary>Creates the outbox and inbox tables when the host starts (unless <see cref="MessagingOptions.CreateSchema"/> is off), before any request can enqueue.</summary>
internal sealed class MessagingSchemaService(MessagingDatabase database) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
