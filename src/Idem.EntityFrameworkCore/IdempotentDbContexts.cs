using System.Runtime.CompilerServices;
using Idem.Storage;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;

namespace Idem.EntityFrameworkCore;

/// <summary>
/// Joins a <see cref="DbContext"/> to the transaction of the idempotent operation that runs (a request to an endpoint
/// marked <c>Transactional()</c>, or an <c>IdempotentOperation</c> with <c>Transactional = true</c>): the context runs on
/// the operation's connection, every command joins its transaction, and <c>SaveChanges</c> opens no transaction of its
/// own. So the idempotency key, what <c>SaveChanges</c> writes and the stored response commit together, or not at all.
/// </summary>
public static class IdempotentDbContexts
{
    private static readonly ConditionalWeakTable<DbContext, IIdempotencyTransaction> Joined = new();

    /// <summary>
    /// Joins <paramref name="context"/> to the running operation's transaction, if the operation is transactional; does
    /// nothing otherwise. Call it before the context's first query or save; <c>AddEntityFrameworkCore&lt;TContext&gt;()</c>
    /// calls it for every context it hands out.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The context was not configured with <see cref="UseIdempotency"/>, it retries on failure (an execution strategy such
    /// as Npgsql's <c>EnableRetryOnFailure</c>), or it already has a connection open or a transaction of its own.
    /// </exception>
    public static TContext JoinIdempotentTransaction<TContext>(this TContext context)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(context);
        return IIdempotencyContext.Current?.Transaction is { } transaction ? Join(context, transaction) : context;
    }

    /// <summary>
    /// Joins <paramref name="context"/> to <paramref name="transaction"/>: an idempotent consumer's delivery (a
    /// <c>MessageContext</c>, which is an <see cref="IIdempotencyTransaction"/>), or any connection and transaction Idem
    /// hands out. The context then runs on that connection, every command joins the transaction, and
    /// <c>SaveChanges</c> opens no transaction of its own: whoever owns the transaction commits it. Call it before the
    /// context's first query or save; joining the same transaction again does nothing.
    /// </summary>
    /// <exception cref="InvalidOperationException">
    /// The context was not configured with <see cref="UseIdempotency"/> (<c>AddEntityFrameworkCore&lt;TContext&gt;()</c>
    /// does it), it retries on failure (an execution strategy such as Npgsql's <c>EnableRetryOnFailure</c>), or it
    /// already has a connection open or a transaction of its own.
    /// </exception>
    public static TContext JoinIdempotentTransaction<TContext>(this TContext context, IIdempotencyTransaction transaction)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(transaction);
        return Join(context, transaction);
    }

    private static TContext Join<TContext>(TContext context, IIdempotencyTransaction transaction)
        where TContext : DbContext
    {
        if (Joined.TryGetValue(context, out var already) && ReferenceEquals(already, transaction))
        {
            return context;
        }

        var database = context.Database;
        if (context.GetService<IDbContextOptions>().FindExtension<CoreOptionsExtension>()?.Interceptors?.Contains(IdempotencyCommandInterceptor.Instance) != true)
        {
            throw new InvalidOperationException(
                $"{context.GetType().Name} cannot join an idempotent transaction: its options lack UseIdempotency(). Register it with " +
                $"AddEntityFrameworkCore<{context.GetType().Name}>() after AddDbContext, or call options.UseIdempotency() where you configure it.");
        }

        var strategy = database.CreateExecutionStrategy();
        if (strategy.RetriesOnFailure)
        {
            throw new InvalidOperationException(
                $"{context.GetType().Name} retries on failure (its execution strategy is {strategy.GetType().Name}), which cannot work " +
                "inside an idempotent operation's transaction: a retry would run again inside a transaction that already failed. Turn retries off for " +
                "this context (no EnableRetryOnFailure), and let the client retry the request with the same key: Idem makes that safe.");
        }

        if (database.CurrentTransaction is not null)
        {
            throw new InvalidOperationException($"{context.GetType().Name} already has a transaction of its own; an idempotent operation's context must write in the operation's transaction.");
        }

        if (!ReferenceEquals(database.GetDbConnection(), transaction.Connection))
        {
            if (database.GetDbConnection().State != System.Data.ConnectionState.Closed)
            {
                throw new InvalidOperationException($"{context.GetType().Name} already has its connection open; join the idempotent operation's transaction before the first query.");
            }

            database.SetDbConnection(transaction.Connection, contextOwnsConnection: false);
        }

        // Idem commits (or rolls back) the operation's transaction; SaveChanges must not open one of its own.
        database.AutoTransactionBehavior = AutoTransactionBehavior.Never;
        Joined.AddOrUpdate(context, transaction);
        return context;
    }

    /// <summary>The operation transaction <paramref name="context"/> joined, if it joined one.</summary>
    internal static IIdempotencyTransaction? JoinedTransaction(DbContext context) => Joined.TryGetValue(context, out var transaction) ? transaction : null;

    /// <summary>
    /// Adds what a context needs to join idempotent operations' transactions (a command interceptor). Added by
    /// <c>AddEntityFrameworkCore&lt;TContext&gt;()</c>; call it yourself for a context you configure by hand.
    /// </summary>
    public static DbContextOptionsBuilder UseIdempotency(this DbContextOptionsBuilder options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options.AddInterceptors(IdempotencyCommandInterceptor.Instance);
    }
}
