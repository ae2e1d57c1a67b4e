using Microsoft.Extensions.Logging;

namespace Idem;

internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Debug, Message = "Replaying the stored result for {StoreKey}.")]
    public static partial void Replaying(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Key {StoreKey} refused: it belongs to a different operation.")]
    public static partial void Mismatch(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Key {StoreKey} refused: its first operation is still running.")]
    public static partial void InProgress(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 4, Level = LogLevel.Error, Message = "The idempotency store failed while handling {StoreKey}.")]
    public static partial void StoreFailed(ILogger logger, string storeKey, Exception exception);

    [LoggerMessage(EventId = 5, Level = LogLevel.Warning, Message = "The result for {StoreKey} was not stored: its lease was taken over by another caller.")]
    public static partial void CompleteLeaseLost(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning, Message = "Releasing {StoreKey} found its lease taken over; nothing was changed.")]
    public static partial void ReleaseLeaseLost(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 7, Level = LogLevel.Error, Message = "Storing the result for {StoreKey} failed after the operation ran; attempt {Attempt}.")]
    public static partial void CompleteFailed(ILogger logger, string storeKey, int attempt, Exception exception);

    [LoggerMessage(EventId = 8, Level = LogLevel.Error, Message = "Releasing {StoreKey} failed; the key stays claimed until its lease ends.")]
    public static partial void ReleaseFailed(ILogger logger, string storeKey, Exception exception);

    [LoggerMessage(EventId = 9, Level = LogLevel.Warning, Message = "The store is unreachable; {StoreKey} runs without deduplication (fail open).")]
    public static partial void FailingOpen(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 10, Level = LogLevel.Error, Message = "Committing the transaction for {StoreKey} failed; nothing was kept and the caller is told to retry.")]
    public static partial void CommitFailed(ILogger logger, string storeKey, Exception exception);

    [LoggerMessage(EventId = 11, Level = LogLevel.Information, Message = "Purged {Count} expired idempotency records.")]
    public static partial void Purged(ILogger logger, int count);

    [LoggerMessage(EventId = 12, Level = LogLevel.Warning, Message = "Purging expired idempotency records failed; trying again at the next interval.")]
    public static partial void PurgeFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "The operation for {StoreKey} lost its key to another caller (its lease ran out); that caller finishes it.")]
    public static partial void OperationLeaseLost(ILogger logger, string storeKey, Exception exception);

    [LoggerMessage(EventId = 14, Level = LogLevel.Warning, Message = "The outcome of the operation for {StoreKey} is unknown: the key stays in progress until its lease ({Lease}) ends.")]
    public static partial void Abandoned(ILogger logger, string storeKey, TimeSpan lease);

    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Lease on {StoreKey} was taken over while its request ran; its result will not be stored.")]
    public static partial void RenewLost(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Renewing the lease on {StoreKey} failed; retrying at the next tick.")]
    public static partial void RenewFailed(ILogger logger, string storeKey, Exception exception);
}
