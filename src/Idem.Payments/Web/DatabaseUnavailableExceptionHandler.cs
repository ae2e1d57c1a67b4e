using System.Data.Common;
using Microsoft.AspNetCore.Diagnostics;

namespace Idem.Payments.Web;

/// <summary>
/// Answers 503 problem+json, with <c>Retry-After</c>, when the database cannot be reached or is busy (a connection that
/// fails to open or breaks, a server shutting down or restarting, SQLite's write lock held past its timeout): the client
/// should retry later, not read it as a bug. A POST that failed this way ran inside its key's transaction, which rolled
/// back with it, so a retry with the same <c>Idempotency-Key</c> is safe.
/// </summary>
internal sealed partial class DatabaseUnavailableExceptionHandler(ILogger<DatabaseUnavailableExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (!IsUnavailable(exception))
        {
            return false;
        }

        LogUnavailable(logger, httpContext.Request.Method, httpContext.Request.Path.Value, exception);
        await Problems.Unavailable(PaymentsProblemTypes.DatabaseUnavailable, "Database unavailable",
                "The database could not be reached, so nothing was changed. Retry after Retry-After; retry a POST with the same Idempotency-Key.")
            .ExecuteAsync(httpContext).ConfigureAwait(false);
        return true;
    }

    // Npgsql marks connection failures (refused, reset, timed out, pool exhausted) and server shutdown or start-up as
    // transient; Microsoft.Data.Sqlite marks a busy or locked database so.
    private static bool IsUnavailable(Exception exception)
    {
        for (var current = exception; current is not null; current = current.InnerException)
        {
            if (current is DbException { IsTransient: true })
            {
                return true;
            }
        }

        return false;
    }

    [LoggerMessage(EventId = 3, Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: the database is unavailable.")]
    private static partial void LogUnavailable(ILogger logger, string method, string? path, Exception exception);
}
