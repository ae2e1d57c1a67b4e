using System.Globalization;
using Idem.Payments.Accounts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Web;

/// <summary>Builds the service's problem+json results.</summary>
internal static class Problems
{
    public static ProblemHttpResult Create(int status, string type, string title, string detail, IDictionary<string, object?>? extensions = null)
        => TypedResults.Problem(detail, statusCode: status, title: title, type: type, extensions: extensions);

    /// <summary>The <c>Retry-After</c>, in seconds, of every 503 the service writes.</summary>
    public const int RetryAfterSeconds = 1;

    /// <summary>A 503 problem with <c>Retry-After</c>: every 503 tells the client when to come back (BEHAVIOUR.md §4).</summary>
    public static IResult Unavailable(string type, string title, string detail, IDictionary<string, object?>? extensions = null)
        => new RetryAfterResult(Create(StatusCodes.Status503ServiceUnavailable, type, title, detail, extensions));

    /// <summary>Sets <c>Retry-After</c> on a 503 that has none yet.</summary>
    public static void AddRetryAfter(HttpResponse response)
    {
        if (response.StatusCode == StatusCodes.Status503ServiceUnavailable && string.IsNullOrEmpty(response.Headers.RetryAfter))
        {
            response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }
    }

    public static ProblemHttpResult Invalid(Dictionary<string, string[]> errors)
        => Create(StatusCodes.Status400BadRequest, PaymentsProblemTypes.InvalidRequest, "Invalid request",
            "Some members of the request are missing or invalid; 'errors' says which. Nothing was changed.",
            new Dictionary<string, object?> { ["errors"] = errors });

    public static ProblemHttpResult AccountNotFound(string id)
        => Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.AccountNotFound, "Account not found", $"No account {id} exists.");

    public static ProblemHttpResult From(LedgerError error)
    {
        var extensions = error.Member is null ? null : new Dictionary<string, object?> { ["param"] = error.Member };
        return error.Kind switch
        {
            LedgerErrorKind.AccountNotFound => Create(StatusCodes.Status404NotFound, PaymentsProblemTypes.AccountNotFound, "Account not found", error.Detail, extensions),
            LedgerErrorKind.CurrencyMismatch => Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.CurrencyMismatch, "Currency mismatch", error.Detail, extensions),
            LedgerErrorKind.InsufficientFunds => Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.InsufficientFunds, "Insufficient funds", error.Detail, extensions),
            _ => Create(StatusCodes.Status422UnprocessableEntity, PaymentsProblemTypes.BalanceLimitExceeded, "Balance limit exceeded", error.Detail, extensions),
        };
    }
}

/// <summary>A 503 problem that carries <c>Retry-After</c>.</summary>
internal sealed class RetryAfterResult(ProblemHttpResult problem) : IResult, IStatusCodeHttpResult
{
    public int? StatusCode => problem.StatusCode;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        httpContext.Response.Headers.RetryAfter = Problems.RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        return problem.ExecuteAsync(httpContext);
    }
}
