using System.Data.Common;
using Idem.Messaging.Data;

namespace Idem.Messaging.Outbox;

/// <summary>Writes messages into the outbox table in the caller's transaction and wakes the relay.</summary>
internal sealed class Outbox(MessagingDatabase database, RelaySignal signal) : IOutbox
{
    public async ValueTask EnqueueAsync(DbTransaction transaction, Message message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(message);
        var connection = transaction.Connection
            ?? throw new InvalidOperationException("The transaction has already been committed or rolled back; enqueue inside the open transaction of the business change.");

        await database.EnsureSchemaAsync(transaction, cancellationToken).ConfigureAwait(false);
        using (var command = Db.Command(connection, transaction, database.Sql.Enqueue))
        {
            Db.AddText(command, "@id", message.Id);
            Db.AddText(command, "@type", message.Type);
            Db.AddText(command, "@aggregate", message.Aggregate);
            Db.AddText(command, "@content_type", message.ContentType);
            Db.AddBytes(command, "@body", message.Body);
            database.AddNow(command);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        // The row becomes visible when the caller commits, a moment from now: the relay starts looking.
        signal.Raise();
    }
}
