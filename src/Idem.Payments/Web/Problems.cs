using Idem.Payments.Accounts;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Idem.Payments.Web;

/// <summary>Builds the service's problem+json results.</summary>
internal static class Problems
{
    public static ProblemHttpResult Create(int status, string type, string title, string detail, IDictionary<string, object?>? extensions = null)
        => TypedResults.Problem(detail, statusCode: status, title: title, type: type, extensions: extensions);

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
