using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Idem.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SQLitePCL;

namespace Idem.Sqlite;

/// <summary>The store's table: created on first use, safely when several processes start at once.</summary>
internal sealed partial class SqliteIdempotencyStore
{
    // Once per store instance. Safe when several processes start at once: switching to WAL and creating the table take
    // the write lock (others wait in the busy handler), and IF NOT EXISTS makes the loser's statements no-ops.
    private async ValueTask EnsureSchemaAsync(SqliteConnection connection, CancellationToken cancellationToken)
    {
        await _schemaGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_schemaReady)
            {
                return;
            }

            using (var command = connection.CreateCommand())
            {
                // WAL lets readers go on while one writer writes; it is a property of the file, kept across connections.
                command.CommandText = "PRAGMA journal_mode = WAL;";
                var mode = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) as string;
                if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
                {
                    Log.WalUnavailable(_logger, mode);
                }
            }

            if (!_createSchema)
            {
                // The table is someone else's (a migration, an EF Core model): only the file's journal mode is the store's.
                _schemaReady = true;
                return;
            }

            using (var command = connection.CreateCommand())
            {
                command.CommandText = _sql.CreateSchema;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            // A table made by an earlier version gains the columns added since: checked with a plain read, then, only when
            // one is missing, checked again and altered under the write lock, so two processes upgrading at once alter once.
            if ((await AddedColumnsAsync(connection, null, cancellationToken).ConfigureAwait(false)).Count < AddedColumnCount)
            {
                using var transaction = connection.BeginTransaction(deferred: false);
                var present = await AddedColumnsAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                foreach (var (column, alter) in new[] { ("recovery_point", _sql.AddRecoveryPoint), ("member_digest", _sql.AddMemberDigest) })
                {
                    if (!present.Contains(column))
                    {
                        using var command = connection.CreateCommand();
                        command.Transaction = transaction;
                        command.CommandText = alter;
                        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                    }
                }

                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }

            _schemaReady = true;
            Log.SchemaReady(_logger, _tableName);
        }
        finally
        {
            _schemaGate.Release();
        }
    }

    private const int AddedColumnCount = 2;

    private async ValueTask<HashSet<string>> AddedColumnsAsync(SqliteConnection connection, SqliteTransaction? transaction, CancellationToken cancellationToken)
    {
        using var check = connection.CreateCommand();
        check.Transaction = transaction;
        check.CommandText = _sql.AddedColumns;
        var present = new HashSet<string>(StringComparer.Ordinal);
        using var reader = await check.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            present.Add(reader.GetString(0));
        }

        return present;
    }
}
