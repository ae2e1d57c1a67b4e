using System.Data.Common;
using Idem.Messaging;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.EntityFrameworkCore;

/// <summary>
/// Idem's outbox and inbox with a <see cref="DbContext"/>: a message enqueued in the transaction the context writes in,
/// and a consumer's context joined to its delivery's transaction.
/// </summary>
public static class DbContextMessaging
{
    /// <summary>
    /// Writes <paramref name="message"/> into the outbox in the transaction <paramref name="context"/> writes in, so it
    /// commits with what <c>SaveChanges</c> writes, or not at all: the transaction of the idempotent operation (or
    /// consumer delivery) the context joined, else the context's own (<c>Database.BeginTransactionAsync()</c>, committed by
    /// you after <c>SaveChanges</c>). In a transactional request that is the claim's transaction, so the key, the business
    /// rows, the message and the stored response commit together. The relay publishes the message after the commit.
    /// </summary>
    /// <param name="outbox">The outbox (from DI, registered by <c>AddIdempotentMessaging</c> on the context's database).</param>
    /// <param name="context">The context whose transaction the message joins.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancels the write.</param>
    /// <exception cref="InvalidOperationException">
    /// The context writes in no transaction: outside an operation, <c>SaveChanges</c> would commit on its own and the
    /// message apart from it.
    /// </exception>
    public static ValueTask EnqueueAsync(this IOutbox outbox, DbContext context, Message message, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(outbox);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(message);
        return outbox.EnqueueAsync(TransactionOf(context), message, cancellationToken);
    }

    /// <summary>
    /// The <typeparamref name="TContext"/> of the delivery's scope, joined to the delivery's transaction: what the handler
    /// saves through it commits with the inbox's record of the message, so a redelivery is skipped, and a failure (a
    /// <c>SaveChanges</c> that breaks a constraint) leaves neither. Register the context with <c>AddDbContext</c> on the
    /// messaging database and configure it with <c>UseIdempotency()</c> (<c>AddEntityFrameworkCore&lt;TContext&gt;()</c>
    /// does both the configuring and the joining for requests).
    /// </summary>
    /// <param name="delivery">The delivery the handler was given.</param>
    /// <exception cref="InvalidOperationException">The context cannot join (see <c>JoinIdempotentTransaction</c>).</exception>
    public static TContext GetDbContext<TContext>(this MessageContext delivery)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(delivery);
        return delivery.Services.GetRequiredService<TContext>().JoinIdempotentTransaction(delivery);
    }

    private static DbTransaction TransactionOf(DbContext context)
        => IdempotentDbContexts.JoinedTransaction(context)?.Transaction
            ?? context.Database.CurrentTransaction?.GetDbTransaction()
            ?? throw new InvalidOperationException(
                $"{context.GetType().Name} writes in no transaction, so the message would commit apart from SaveChanges. Enqueue inside a transactional " +
                "idempotent operation (a context from AddEntityFrameworkCore), in a consumer (MessageContext.GetDbContext), or between the context's own " +
                "Database.BeginTransactionAsync() and CommitAsync().");
}
