using Microsoft.Extensions.Logging;

namespace Idem.Http;

internal static partial class Log
{
    [LoggerMessage(EventId = 701, Level = LogLevel.Debug, Message = "Sending {Method} {Target} with idempotency key {Key}.")]
    public static partial void Sending(ILogger logger, HttpMethod method, string target, string key);

    [LoggerMessage(EventId = 702, Level = LogLevel.Information, Message = "Attempt {Attempt} of {Method} {Target} failed ({Reason}); retrying with the same key in {Delay}.")]
    public static partial void Retrying(ILogger logger, int attempt, HttpMethod method, string target, string reason, TimeSpan delay);

    [LoggerMessage(EventId = 703, Level = LogLevel.Warning, Message = "Giving up on {Method} {Target} with key {Key} after {Attempts} attempts ({Reason}): {Limit} reached.")]
    public static partial void GivingUp(ILogger logger, HttpMethod method, string target, string key, int attempts, string reason, string limit);

    [LoggerMessage(EventId = 704, Level = LogLevel.Debug, Message = "{Method} {Target} with key {Key} was answered by a replay after {Attempts} attempts.")]
    public static partial void Replayed(ILogger logger, HttpMethod method, string target, string key, int attempts);
}
