using System.Data.Common;
using System.Globalization;
using Idem.Storage;

namespace Idem.Payments.Data;

/// <summary>
/// What every provider's database shares: its units of work and the migration runner. A provider supplies its
/// connections, its append-only list of migrations and the one thing that keeps two nodes from applying a migration at once.
/// </summary>
internal abstract class PaymentsDatabase(ISqlDialect dialect, IReadOnlyList<Migration> migrations, string createMigrationsTableSql, TimeProvider time, ILogger logger)
    : IPaymentsDatabase
{
    private const string IsAppliedSql = "SELECT COUNT(*) FROM schema_migrations WHERE version = @version;";

    private const string MarkAppliedSql = "INSERT INTO schema_migrations (version, name, applied_at) VALUES (@version, @name, @applied_at);";

    public ISqlDialect Dialect { get; } = dialect;

    /// <summary>The provider's migrations, oldest first.</summary>
    public IReadOnlyList<Migration> Migrations { get; } = migrations;

    public abstract ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    public UnitOfWork Join(IIdempotencyTransaction transaction) => UnitOfWork.Join(transaction, Dialect);

    public async ValueTask<UnitOfWork> OpenAsync(CancellationToken cancellationToken)
        => UnitOfWork.Own(await OpenConnectionAsync(cancellationToken).ConfigureAwait(false), null, Dialect);

    public async ValueTask<UnitOfWork> BeginAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return UnitOfWork.Own(connection, await BeginWriteAsync(connection, cancellationToken).ConfigureAwait(false), Dialect);
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async Task<int> MigrateAsync(CancellationToken cancellationToken)
    {
        var connection = await OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            await PrepareAsync(connection, cancellationToken).ConfigureAwait(false);

            var applied = 0;
            foreach (var migration in Migrations)
            {
                if (await ApplyAsync(connection, migration, cancellationToken).ConfigureAwait(false))
                {
                    applied++;
                    Log.MigrationApplied(logger, migration.Version, migration.Name);
                }
            }

            await FinishAsync(connection, cancellationToken).ConfigureAwait(false);
            Log.SchemaReady(logger, applied, Migrations.Count);
            return applied;
        }
    }

    /// <summary>Runs once before the migrations, on their connection, outside any transaction.</summary>
    protected virtual Task PrepareAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Runs once after the migrations, on their connection, outside any transaction.</summary>
    protected virtual Task FinishAsync(DbConnection connection, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Checks what a migration's SQL cannot check itself, in its transaction before it commits; throws to roll it back.</summary>
    protected virtual Task VerifyAsync(UnitOfWork work, Migration migration, CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Begins a transaction that reads and then writes.</summary>
    protected virtual async Task<DbTransaction> BeginWriteAsync(DbConnection connection, CancellationToken cancellationToken)
        => await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// Begins the transaction one migration runs in, already holding what keeps every other node's migration out until
    /// it ends (SQLite's write lock, a PostgreSQL advisory lock).
    /// </summary>
    protected abstract Task<DbTransaction> BeginExclusiveAsync(DbConnection connection, CancellationToken cancellationToken);

    // Each migration runs in its own exclusive transaction: a second node starting at the same moment waits, then finds
    // the migration recorded and skips it. DDL is transactional on both databases, so a migration that fails leaves
    // nothing half-applied.
    private async Task<bool> ApplyAsync(DbConnection connection, Migration migration, CancellationToken cancellationToken)
    {
        var transaction = await BeginExclusiveAsync(connection, cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            var work = UnitOfWork.On(connection, transaction, Dialect);
            await ExecuteAsync(work, createMigrationsTableSql, cancellationToken).ConfigureAwait(false);
            using (var check = work.Command(IsAppliedSql))
            {
                Add(check, "@version", migration.Version);
                if (Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture) > 0)
                {
                    return false;
                }
            }

            await ExecuteAsync(work, migration.Sql, cancellationToken).ConfigureAwait(false);
            await VerifyAsync(work, migration, cancellationToken).ConfigureAwait(false);
            using (var mark = work.Command(MarkAppliedSql))
            {
                Add(mark, "@version", migration.Version);
                Add(mark, "@name", migration.Name);
                Add(mark, "@applied_at", time.GetUtcNow());
                await mark.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return true;
        }
    }

    protected static async Task ExecuteAsync(UnitOfWork work, string sql, CancellationToken cancellationToken)
    {
        using var command = work.Command(sql);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    protected static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }
}
