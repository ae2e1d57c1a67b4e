using Microsoft.Extensions.Logging;

namespace Idem.Postgres;

internal static partial class Log
{
    [LoggerMessage(EventId = 401, Level = LogLevel.Debug, Message = "PostgreSQL idempotency table {Schema}.{TableName} is ready.")]
    public static partial void SchemaReady(ILogger logger, string schema, string tableName);

    [LoggerMessage(EventId = 402, Level = LogLevel.Debug, Message = "Claiming {StoreKey} waited {LockTimeout} for the transaction that holds it; answering in progress.")]
    public static partial void ClaimWaitTimedOut(ILogger logger, string storeKey, TimeSpan lockTimeout);

    [LoggerMessage(EventId = 403, Level = LogLevel.Debug, Message = "A step on {StoreKey} hit a serialization failure (attempt {Attempt}); running it again.")]
    public static partial void SerializationRetry(ILogger logger, string storeKey, int attempt);

    [LoggerMessage(EventId = 404, Level = LogLevel.Warning, Message = "Rolling back the idempotency transaction for {StoreKey} failed; the connection is discarded.")]
    public static partial void RollbackFailed(ILogger logger, string storeKey, Exception exception);

    [LoggerMessage(EventId = 405, Level = LogLevel.Debug, Message = "A batch of {Count} was rolled back ({SqlState}) because of one of its keys; running each alone.")]
    public static partial void BatchRetriedAlone(ILogger logger, int count, string sqlState);
}
