using System.Buffers.Binary;
using System.Data;
using System.Data.Common;
using System.Security.Cryptography;
using System.Text;

namespace Idem.Messaging.Data;

/// <summary>
/// PostgreSQL: times as <c>timestamptz</c>; the relay of one outbox runs on one node at a time, under a
/// transaction-scoped advisory lock, so per-aggregate order holds across nodes; the DDL runs under another.
/// </summary>
internal sealed class PostgresMessagingSql : MessagingSql
{
    private readonly string _schema;
    private readonly long _relayLock;
    private readonly long _schemaLock;

    public PostgresMessagingSql(string schema, string prefix)
        : base($"{Quote(schema)}.{Quote(prefix + "outbox")}", $"{Quote(schema)}.{Quote(prefix + "inbox")}")
    {
        _schema = schema;
        _relayLock = LockKey($"Idem.Messaging relay {schema}.{prefix}outbox");
        _schemaLock = LockKey($"Idem.Messaging schema {schema}");
        CreateSchema = $"""
            CREATE TABLE IF NOT EXISTS {Outbox} (
                seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL,
                type text NOT NULL,
                aggregate text NULL,
                content_type text NULL,
                body bytea NOT NULL,
                created_at timestamptz NOT NULL,
                published_at timestamptz NULL,
                attempts integer NOT NULL DEFAULT 0,
                last_error text NULL
            );
            CREATE INDEX IF NOT EXISTS {Quote(prefix + "outbox_unpublished")} ON {Outbox} (seq) WHERE published_at IS NULL;
            CREATE INDEX IF NOT EXISTS {Quote(prefix + "outbox_published_at")} ON {Outbox} (published_at) WHERE published_at IS NOT NULL;
            CREATE TABLE IF NOT EXISTS {Inbox} (
                consumer text COLLATE "C" NOT NULL,
                message_id text COLLATE "C" NOT NULL,
                state smallint NOT NULL,
                attempts integer NOT NULL,
                last_error text NULL,
                updated_at timestamptz NOT NULL,
                PRIMARY KEY (consumer, message_id)
            );
            CREATE INDEX IF NOT EXISTS {Quote(prefix + "inbox_updated_at")} ON {Inbox} (updated_at);
            """;
    }

    public override string CreateSchema { get; }

    public override (DbType Type, object Value) Time(DateTimeOffset time) => (DbType.DateTimeOffset, time.ToUniversalTime());

    public override async ValueTask<bool> TryEnterRelayAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT pg_try_advisory_xact_lock(@key)";
        Db.Add(command, "@key", DbType.Int64, _relayLock);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    // Concurrent CREATE … IF NOT EXISTS of one table can still fail on the catalog's unique indexes, so the DDL runs under
    // an advisory lock named after the schema; whoever comes second finds everything there. CREATE SCHEMA only when it is
    // missing: it needs the CREATE privilege on the database even when the schema exists.
    public override async ValueTask EnsureSchemaAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (transaction.ConfigureAwait(false))
        {
            bool schemaMissing;
            using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = "SELECT pg_advisory_xact_lock(@key); SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = @schema)";
                Db.Add(command, "@key", DbType.Int64, _schemaLock);
                Db.Add(command, "@schema", DbType.String, _schema);
                using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await reader.NextResultAsync(cancellationToken).ConfigureAwait(false);
                await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                schemaMissing = reader.GetBoolean(0);
            }

            using (var command = connection.CreateCommand())
            {
                command.Transaction = transaction;
                command.CommandText = (schemaMissing ? $"CREATE SCHEMA IF NOT EXISTS {Quote(_schema)};\n" : "") + CreateSchema;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private static long LockKey(string name)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(name), hash);
        return BinaryPrimitives.ReadInt64LittleEndian(hash);
    }
}
