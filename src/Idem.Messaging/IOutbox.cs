using System.Data.Common;

namespace Idem.Messaging;

/// <summary>
/// The transactional outbox: writes a message in the caller's database transaction, so it exists exactly when the
/// business change does. The relay publishes it after the commit.
/// </summary>
public interface IOutbox
{
    /// <summary>
    /// Writes <paramref name="message"/> into the outbox table inside <paramref name="transaction"/> (on its connection).
    /// Nothing is published now: once the transaction commits, the relay publishes the message; if it rolls back, the
    /// message never existed. The transaction must be on the database messaging was configured with.
    /// </summary>
    /// <param name="transaction">The open transaction of the business change (for a transactional idempotent request,
    /// <c>IIdempotencyTransaction.Transaction</c>; in a consumer, <see cref="MessageContext.Transaction"/>).</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    ValueTask EnqueueAsync(DbTransaction transaction, Message message, CancellationToken cancellationToken = default);
}
