using System.Data;
using System.Data.Common;

namespace Idem.Messaging.Data;

/// <summary>
/// SQLite: times as unix milliseconds (SQLite has no time type, and one machine has one clock); one writer at a time, so
/// the relay needs no lock of its own as long as one process relays (see docs/messaging.md).
/// </summary>
internal sealed class SqliteMessagingSql(string prefix) : MessagingSql(Quote(prefix + "outbox"), Quote(prefix + "inbox"))
{
    public override string CreateSchema { get; } = $"""
        CREATE TABLE IF NOT EXISTS {Quote(prefix + "outbox")} (
            seq INTEGER NOT NULL PRIMARY KEY,
            id TEXT NOT NULL,
            type TEXT NOT NULL,
            aggregate TEXT NULL,
            content_type TEXT NULL,
            body BLOB NOT NULL,
            created_at INTEGER NOT NULL,
            published_at INTEGER NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT NULL
        );
        CREATE INDEX IF NOT EXISTS {Quote(prefix + "outbox_unpublished")} ON {Quote(prefix + "outbox")} (seq) WHERE published_at IS NULL;
        CREATE INDEX IF NOT EXISTS {Quote(prefix + "outbox_published_at")} ON {Quote(prefix + "outbox")} (published_at) WHERE published_at IS NOT NULL;
        CREATE TABLE IF NOT EXISTS {Quote(prefix + "inbox")} (
            consumer TEXT NOT NULL,
            message_id TEXT NOT NULL,
            state INTEGER NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (consumer, message_id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS {Quote(prefix + "inbox_updated_at")} ON {Quote(prefix + "inbox")} (updated_at);
        """;

    public override (DbType Type, object Value) Time(DateTimeOffset time) => (DbType.Int64, time.ToUnixTimeMilliseconds());

    public override ValueTask<bool> TryEnterRelayAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken)
        => ValueTask.FromResult(true);

    // WAL lets readers go on beside the one writer (a property of the file). Creating the tables takes the write lock;
    // a second process waits for it (Microsoft.Data.Sqlite retries while busy), and IF NOT EXISTS makes its DDL a no-op.
    public override async ValueTask EnsureSchemaAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL;\n" + CreateSchema;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }
}
