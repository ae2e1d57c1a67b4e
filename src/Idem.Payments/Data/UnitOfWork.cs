using System.Data.Common;
using Idem.Storage;

namespace Idem.Payments.Data;

/// <summary>
/// The connection, transaction and SQL dialect that one piece of work runs on, handed from an endpoint or a background
/// service to the repositories it uses. Either it joins a transaction someone else owns (a keyed request's
/// <see cref="IIdempotencyTransaction"/>, which Idem commits with the stored response; the inbox's, for a consumer), or
/// it owns a connection the service opened itself (<see cref="IPaymentsDatabase"/>), which disposing closes.
/// </summary>
internal sealed class UnitOfWork : IAsyncDisposable
{
    // Read through, not copied: a request in phases commits one transaction and begins the next on it.
    private readonly IIdempotencyTransaction? _joined;
    private readonly DbConnection? _connection;
    private readonly DbTransaction? _transaction;
    private readonly bool _owned;

    private UnitOfWork(IIdempotencyTransaction? joined, DbConnection? connection, DbTransaction? transaction, ISqlDialect dialect, bool owned)
    {
        _joined = joined;
        _connection = connection;
        _transaction = transaction;
        Dialect = dialect;
        _owned = owned;
    }

    public DbConnection Connection => _joined?.Connection ?? _connection!;

    /// <summary>The transaction every command joins; null on a connection of its own, where each statement commits by itself.</summary>
    public DbTransaction? Transaction => _joined is null ? _transaction : _joined.Transaction;

    public ISqlDialect Dialect { get; }

    /// <summary>Joins a transaction owned by Idem (a keyed request's, or the inbox's for a consumer): disposing leaves it alone.</summary>
    public static UnitOfWork Join(IIdempotencyTransaction transaction, ISqlDialect dialect)
    {
        ArgumentNullException.ThrowIfNull(transaction);
        return new(transaction, null, null, dialect, owned: false);
    }

    /// <summary>Works on a connection (and transaction) that stays the caller's to commit and close.</summary>
    public static UnitOfWork On(DbConnection connection, DbTransaction? transaction, ISqlDialect dialect) => new(null, connection, transaction, dialect, owned: false);

    /// <summary>Takes over a connection (and transaction) the caller opened: disposing closes both.</summary>
    public static UnitOfWork Own(DbConnection connection, DbTransaction? transaction, ISqlDialect dialect) => new(null, connection, transaction, dialect, owned: true);

    /// <summary>The transaction, for work that must write atomically; a unit without one is a mistake of the caller's.</summary>
    public DbTransaction RequireTransaction()
        => Transaction ?? throw new InvalidOperationException("This work writes in a transaction, but its unit of work has none.");

    /// <summary>Commits a transaction this unit owns. A joined transaction is committed by its owner, never here.</summary>
    public Task CommitAsync(CancellationToken cancellationToken)
    {
        if (!_owned)
        {
            throw new InvalidOperationException("A joined transaction is committed by its owner.");
        }

        return RequireTransaction().CommitAsync(cancellationToken);
    }

    public DbCommand Command(string sql)
    {
        var command = Connection.CreateCommand();
        command.Transaction = Transaction;
        command.CommandText = sql;
        return command;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_owned)
        {
            return;
        }

        if (_transaction is not null)
        {
            await _transaction.DisposeAsync().ConfigureAwait(false);
        }

        await _connection!.DisposeAsync().ConfigureAwait(false);
    }
}
