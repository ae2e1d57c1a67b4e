using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.WebUtilities;

namespace Idem.Payments.Web;

/// <summary>
/// Gives the bodiless error responses of the framework (no endpoint, wrong method, a body that is not JSON) a
/// problem+json body like every other error, or, under <c>/console</c>, a short page for a person (a 503 among them with <c>Retry-After</c>, as every 503 of the service).
/// </summary>
internal static class StatusCodeProblems
{
    public static Task WriteAsync(StatusCodeContext context)
    {
        var http = context.HttpContext;
        var status = http.Response.StatusCode;
        if (http.Request.Path.StartsWithSegments(Console.ConsoleSetup.PathBase))
        {
            // People read the console's errors, in a browser.
            return Console.ConsoleSetup.WriteStatusPageAsync(http);
        }

        var result = status switch
        {
            StatusCodes.Status415UnsupportedMediaType => Problems.Create(status, PaymentsProblemTypes.UnsupportedMediaType, "Unsupported media type",
                "Send the body as JSON with 'Content-Type: application/json'. Nothing was changed."),
            StatusCodes.Status404NotFound => Problems.Create(status, PaymentsProblemTypes.NoSuchEndpoint, "Not found", "No endpoint has this path."),
            StatusCodes.Status405MethodNotAllowed => Problems.Create(status, PaymentsProblemTypes.NoSuchEndpoint, "Method not allowed", "This path does not accept this method."),
            _ => TypedResults.Problem(statusCode: status, title: ReasonPhrases.GetReasonPhrase(status)),
        };
        Problems.AddRetryAfter(http.Response);
        return result.ExecuteAsync(http);
    }
}
