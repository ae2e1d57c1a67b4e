using System.Data;
using System.Data.Common;

namespace Idem.Messaging.Data;

/// <summary>
/// The statements of the outbox and the inbox for one database, formatted once with the configured table names (validated
/// as identifiers, then quoted). Every value is a named parameter (<c>@name</c>, which Microsoft.Data.Sqlite and Npgsql
/// both accept), so the code that runs them speaks plain ADO.NET and Idem.Messaging references no driver: the two
/// dialects differ only in DDL, in how time is stored and in how the relay keeps other nodes out.
/// </summary>
/// <remarks>
/// Inbox <c>state</c>: 0 failing (attempts so far in <c>attempts</c>, the last exception in <c>last_error</c>), 1 handled,
/// 2 dead-lettered (the reason in <c>last_error</c>).
/// </remarks>
internal abstract class MessagingSql
{
    public const int Failing = 0;
    public const int Handled = 1;
    public const int DeadLettered = 2;

    protected MessagingSql(string outbox, string inbox)
    {
        Outbox = outbox;
        Inbox = inbox;
        Enqueue = $"INSERT INTO {outbox} (id, type, aggregate, content_type, body, created_at) VALUES (@id, @type, @aggregate, @content_type, @body, @now)";
        SelectUnpublished = $"SELECT seq, id, type, aggregate, content_type, body FROM {outbox} WHERE published_at IS NULL ORDER BY seq LIMIT @limit";
        RecordPublishFailure = $"UPDATE {outbox} SET attempts = attempts + 1, last_error = @error WHERE seq = @seq";
        PurgeOutbox = $"DELETE FROM {outbox} WHERE seq IN (SELECT seq FROM {outbox} WHERE published_at < @before LIMIT @limit)";

        // The claim decides in one statement whether this delivery runs the handler: it inserts the id as handled, or takes
        // over a row of earlier failures, and RETURNING yields a row only then. A row already handled or dead-lettered
        // makes the WHERE false and nothing comes back. A concurrent duplicate waits on the uncommitted row (PostgreSQL) or
        // the write lock (SQLite), then sees the committed outcome: after a rollback, it claims itself.
        ClaimInbox = $"""
            INSERT INTO {inbox} (consumer, message_id, state, attempts, updated_at) VALUES (@consumer, @message_id, 1, 0, @now)
            ON CONFLICT (consumer, message_id) DO UPDATE SET state = 1, updated_at = excluded.updated_at
            WHERE {inbox}.state = 0
            RETURNING attempts
            """;
        ReadInbox = $"SELECT state, last_error FROM {inbox} WHERE consumer = @consumer AND message_id = @message_id";

        // After the handler's transaction rolled back: count the failure, and dead-letter at the last allowed attempt.
        // A row handled meanwhile (by a concurrent duplicate) is left alone and nothing comes back.
        RecordInboxFailure = $"""
            INSERT INTO {inbox} (consumer, message_id, state, attempts, last_error, updated_at)
            VALUES (@consumer, @message_id, CASE WHEN @max_attempts <= 1 THEN 2 ELSE 0 END, 1, @error, @now)
            ON CONFLICT (consumer, message_id) DO UPDATE SET
                attempts = {inbox}.attempts + 1,
                state = CASE WHEN {inbox}.attempts + 1 >= @max_attempts THEN 2 ELSE 0 END,
                last_error = excluded.last_error,
                updated_at = excluded.updated_at
            WHERE {inbox}.state = 0
            RETURNING state, attempts
            """;

        // Dead letters stay: they hold the reason. Handled and failing rows go after the retention.
        PurgeInbox = $"DELETE FROM {inbox} WHERE (consumer, message_id) IN (SELECT consumer, message_id FROM {inbox} WHERE state <> 2 AND updated_at < @before LIMIT @limit)";
    }

    /// <summary>The outbox table as SQL names it.</summary>
    public string Outbox { get; }

    /// <summary>The inbox table as SQL names it.</summary>
    public string Inbox { get; }

    public string Enqueue { get; }

    public string SelectUnpublished { get; }

    public string RecordPublishFailure { get; }

    public string PurgeOutbox { get; }

    public string ClaimInbox { get; }

    public string ReadInbox { get; }

    public string RecordInboxFailure { get; }

    public string PurgeInbox { get; }

    /// <summary>The DDL, every statement <c>IF NOT EXISTS</c>.</summary>
    public abstract string CreateSchema { get; }

    /// <summary>How a time is stored: the parameter's type and value.</summary>
    public abstract (DbType Type, object Value) Time(DateTimeOffset time);

    /// <summary>Runs before the relay reads a batch, inside the pass's transaction. False when another node is relaying.</summary>
    public abstract ValueTask<bool> TryEnterRelayAsync(DbConnection connection, DbTransaction transaction, CancellationToken cancellationToken);

    /// <summary>Creates the schema once; safe when several nodes or processes start at once.</summary>
    public abstract ValueTask EnsureSchemaAsync(DbConnection connection, CancellationToken cancellationToken);

    /// <summary><c>UPDATE … SET published_at = @now WHERE seq IN (@s0, @s1, …)</c> for <paramref name="count"/> rows.</summary>
    public string MarkPublished(int count)
    {
        var list = string.Join(", ", Enumerable.Range(0, count).Select(i => "@s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
        return $"UPDATE {Outbox} SET published_at = @now WHERE seq IN ({list})";
    }

    public static string Quote(string identifier) => "\"" + identifier + "\"";
}
