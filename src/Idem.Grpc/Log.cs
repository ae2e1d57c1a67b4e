using Microsoft.Extensions.Logging;

namespace Idem.Grpc;

internal static partial class Log
{
    [LoggerMessage(801, LogLevel.Warning, "The lease of the idempotency key of {Method} was taken over while the call ran; the other caller finishes it.")]
    public static partial void HandlerLeaseLost(ILogger logger, string method);

    [LoggerMessage(802, LogLevel.Error, "The answer stored for an idempotency key of {Method} was not stored by a gRPC call; refusing to replay it.")]
    public static partial void StoredAnswerUnreadable(ILogger logger, string method);
}
