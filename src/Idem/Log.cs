using Microsoft.Extensions.Logging;

namespace Idem;

internal static partial class Log
{
    [LoggerMessage(EventId = 101, Level = LogLevel.Warning, Message = "Lease on {StoreKey} was taken over while its request ran; its result will not be stored.")]
    public static partial void RenewLost(ILogger logger, string storeKey);

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Renewing the lease on {StoreKey} failed; retrying at the next tick.")]
    public static partial void RenewFailed(ILogger logger, string storeKey, Exception exception);
}
