using System.Text.Json;

namespace Idem.Payments.Web;

/// <summary>
/// The JSON body of a PATCH, read as a document so that a member left out can be told from one sent as null. Bound by
/// <see cref="BindAsync"/>, so the OpenAPI document shows the request type named by <c>Accepts&lt;T&gt;</c> instead.
/// A body that cannot be read throws <see cref="BadHttpRequestException"/>, answered by <see cref="BadRequestExceptionHandler"/>.
/// </summary>
internal sealed class JsonPatchBody(JsonElement root)
{
    private static readonly JsonDocumentOptions Options = new() { AllowDuplicateProperties = false };

    public JsonElement Root { get; } = root;

    public static async ValueTask<JsonPatchBody> BindAsync(HttpContext context)
    {
        if (!context.Request.HasJsonContentType())
        {
            throw new BadHttpRequestException("The body is not JSON.", StatusCodes.Status415UnsupportedMediaType);
        }

        try
        {
            using var document = await JsonDocument.ParseAsync(context.Request.Body, Options, context.RequestAborted).ConfigureAwait(false);
            return new JsonPatchBody(document.RootElement.Clone());
        }
        catch (JsonException ex)
        {
            throw new BadHttpRequestException("The body is not valid JSON.", StatusCodes.Status400BadRequest, ex);
        }
    }
}
