using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics;

namespace Idem.Payments.Web;

/// <summary>
/// Turns a request the framework could not read (bad JSON, wrong member types, unknown members, no body, too large)
/// into problem+json. Minimal APIs throw these before the handler starts (RouteHandlerOptions
/// .ThrowOnBadRequest), so Idem rolls the claim back: such a request stores nothing and the key can be used again.
/// </summary>
internal sealed class BadRequestExceptionHandler : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (exception is not BadHttpRequestException bad)
        {
            return false;
        }

        if (bad.StatusCode == StatusCodes.Status415UnsupportedMediaType)
        {
            await Problems.Create(bad.StatusCode, PaymentsProblemTypes.UnsupportedMediaType, "Unsupported media type",
                    "Send the body as JSON with 'Content-Type: application/json'. Nothing was changed.")
                .ExecuteAsync(httpContext).ConfigureAwait(false);
            return true;
        }

        var (title, detail) = bad.StatusCode switch
        {
            StatusCodes.Status413PayloadTooLarge => ("Request too large", "The request body is larger than this API accepts."),
            StatusCodes.Status400BadRequest => ("Malformed request", Describe(bad)),
            _ => ("Bad request", "The request could not be read."),
        };

        await Problems.Create(bad.StatusCode, PaymentsProblemTypes.MalformedRequest, title, detail + " Nothing was changed.")
            .ExecuteAsync(httpContext).ConfigureAwait(false);
        return true;
    }

    // The JSON reader's own message names .NET types; the path and position are what a client can act on.
    private static string Describe(BadHttpRequestException exception) => exception.InnerException switch
    {
        JsonException { Path: { Length: > 1 } path } =>
            $"The request body is not valid for this operation at '{path}': check the JSON syntax, the member names, the value types (amounts are integers in minor units) and that strings are UTF-8 text with no unpaired surrogate escapes.",
        JsonException { LineNumber: { } line, BytePositionInLine: { } position } =>
            $"The request body is not valid JSON (line {line + 1}, byte {position + 1}).",
        JsonException => "The request body is not valid JSON for this operation.",
        _ => "The request has no JSON body, or a parameter could not be read.",
    };
}
