using Microsoft.Extensions.Logging;

namespace Idem.Sqlite;

internal static partial class Log
{
    [LoggerMessage(EventId = 301, Level = LogLevel.Warning, Message = "The SQLite database kept journal mode '{JournalMode}' instead of WAL; readers and writers will block each other.")]
    public static partial void WalUnavailable(ILogger logger, string? journalMode);

    [LoggerMessage(EventId = 302, Level = LogLevel.Debug, Message = "SQLite idempotency table '{TableName}' is ready.")]
    public static partial void SchemaReady(ILogger logger, string tableName);
}
