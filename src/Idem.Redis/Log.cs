using Microsoft.Extensions.Logging;

namespace Idem.Redis;

internal static partial class Log
{
    [LoggerMessage(EventId = 501, Level = LogLevel.Debug, Message = "Redis did not know the idempotency script {Script} (restarted, failed over or flushed); sent it in full.")]
    public static partial void ScriptReloaded(ILogger logger, string script);
}
