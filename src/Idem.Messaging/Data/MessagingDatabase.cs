using System.Data.Common;

namespace Idem.Messaging.Data;

/// <summary>The database messaging runs on: where connections come from, its statements, and the clock.</summary>
internal sealed class MessagingDatabase(DbDataSource dataSource, MessagingSql sql, bool createSchema, TimeProvider time) : IDisposable
{
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private volatile bool _schemaReady = !createSchema;

    public MessagingSql Sql { get; } = sql;

    public TimeProvider Time { get; } = time;

    public async ValueTask<DbConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_schemaReady)
            {
                await EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Makes sure the tables exist before a write on the caller's own transaction (an enqueue). Normally they do: the
    /// hosted schema service created them at start. SQLite cannot create them from a second connection while the caller's
    /// transaction holds the write lock, so there the DDL (all <c>IF NOT EXISTS</c>) joins the caller's transaction.
    /// </summary>
    public async ValueTask EnsureSchemaAsync(DbTransaction transaction, CancellationToken cancellationToken)
    {
        if (_schemaReady)
        {
            return;
        }

        if (Sql is SqliteMessagingSql)
        {
            using var command = Db.Command(transaction.Connection!, transaction, Sql.CreateSchema);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>Binds <c>@now</c> (or another time parameter) in the database's time representation.</summary>
    public void AddTime(DbCommand command, string name, DateTimeOffset value)
    {
        var (type, stored) = Sql.Time(value);
        Db.Add(command, name, type, stored);
    }

    public void AddNow(DbCommand command) => AddTime(command, "@now", Time.GetUtcNow());

    public void Dispose() => _schemaGate.Dispose();

    private async ValueTask EnsureSchemaAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await _schemaGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!_schemaReady)
            {
                await Sql.EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
                _schemaReady = true;
            }
        }
        finally
        {
            _schemaGate.Release();
        }
    }
}
