using Microsoft.Extensions.Logging;

namespace Idem.AspNetCore;

internal static partial class Log
{
    [LoggerMessage(EventId = 13, Level = LogLevel.Warning, Message = "The handler for {Path} lost its key to another request (its lease ran out); that request finishes the operation.")]
    public static partial void HandlerLeaseLost(ILogger logger, string? path);
}
