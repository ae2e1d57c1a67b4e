using System.Buffers.Binary;
using System.Data;
using System.Security.Cryptography;
using System.Text;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Idem.Postgres;

/// <summary>The store's schema and table: created on first use, under an advisory lock, so nodes may start together.</summary>
internal sealed partial class PostgresIdempotencyStore
{
    // Once per store instance. Safe when several nodes start at once: concurrent CREATE … IF NOT EXISTS of one schema or
    // table can still fail on the catalog's unique indexes, so creation runs under a transaction-scoped advisory lock
    // named after the schema (stores of other tables in it may be creating it too); whoever comes second finds
    // everything there.
    private async ValueTask EnsureSchemaAsync(CancellationToken cancellationToken)
    {
        await _schemaGate.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_schemaReady)
            {
                return;
            }

            var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                if (!await SchemaExistsAsync(connection, cancellationToken).ConfigureAwait(false))
                {
                    var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
                    await using (transaction.ConfigureAwait(false))
                    {
                        using (var command = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
                        {
                            command.Parameters.Add(new NpgsqlParameter<long> { NpgsqlDbType = NpgsqlDbType.Bigint, TypedValue = SchemaLockKey(_options.Schema) });
                            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }

                        bool schemaMissing;
                        using (var command = new NpgsqlCommand("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)", connection, transaction))
                        {
                            command.Parameters.Add(Text(_options.Schema));
                            schemaMissing = (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                        }

                        // Only when missing: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege on the database even
                        // when the schema is there, which an application role often lacks.
                        var ddl = schemaMissing ? $"CREATE SCHEMA IF NOT EXISTS {PostgresSql.Quote(_options.Schema)};\n{_sql.CreateTable}" : _sql.CreateTable;
                        using (var command = new NpgsqlCommand(ddl, connection, transaction))
                        {
                            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                        }

                        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                    }
                }
            }

            _schemaReady = true;
            Log.SchemaReady(_logger, _options.Schema, _options.TableName);
        }
        finally
        {
            _schemaGate.Release();
        }
    }

    // The common case on a restart: everything is there, and no DDL (nor its notices) is needed.
    private async ValueTask<bool> SchemaExistsAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        // The last column added (member_digest) tells a table made by an earlier version, which the DDL then upgrades.
        using var command = new NpgsqlCommand(
            "SELECT to_regclass($2) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'member_digest' AND NOT attisdropped)",
            connection);
        command.Parameters.Add(Text(_sql.QualifiedTable));
        command.Parameters.Add(Text(_sql.QualifiedIndex));
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    private static long SchemaLockKey(string schema)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes($"Idem.Postgres schema {schema}"), hash);
        return BinaryPrimitives.ReadInt64LittleEndian(hash);
    }
}
