using Yarp.ReverseProxy.Forwarder;

namespace Idem.Gateway;

/// <summary>The gateway's log messages, source-generated, with stable event ids.</summary>
internal static partial class Log
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Route {RouteId}: the upstream was not reached ({Error}); nothing was sent and the key is released.")]
    public static partial void UpstreamUnavailable(ILogger logger, string routeId, ForwarderError error, Exception? exception);

    [LoggerMessage(EventId = 2, Level = LogLevel.Warning,
        Message = "Route {RouteId}: the request was sent but no complete answer came back ({Error}); its outcome is unknown and the key stays held for its lease ({Lease}).")]
    public static partial void UpstreamOutcomeUnknown(ILogger logger, string routeId, ForwarderError error, TimeSpan lease, Exception? exception);

    [LoggerMessage(EventId = 3, Level = LogLevel.Information, Message = "Route {RouteId}: idempotency {Policy}.")]
    public static partial void RoutePolicy(ILogger logger, string routeId, Routes.RoutePolicy policy);

    [LoggerMessage(EventId = 4, Level = LogLevel.Information, Message = "Route {RouteId}: idempotency off (Idempotency.Enabled is false).")]
    public static partial void RouteUnguarded(ILogger logger, string routeId);

    [LoggerMessage(EventId = 5, Level = LogLevel.Information, Message = "Idempotency gateway: {Store} store, default scope {Scope}.")]
    public static partial void Started(ILogger logger, Hosting.GatewayStore store, string scope);

    [LoggerMessage(EventId = 6, Level = LogLevel.Warning,
        Message = "Route {RouteId}: the upstream did not answer within {AnswerTimeout}; the client got 504 and the gateway goes on waiting for the answer, to store it.")]
    public static partial void AnswerPending(ILogger logger, string routeId, TimeSpan answerTimeout);

    [LoggerMessage(EventId = 7, Level = LogLevel.Information, Message = "Route {RouteId}: the upstream's late answer ({Status}) came in after the client was answered; it is kept for the retry.")]
    public static partial void LateAnswer(ILogger logger, string routeId, int status);
}
