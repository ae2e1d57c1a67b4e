using System.Globalization;
using System.Text.Json;

namespace Idem.Payments.Web;

/// <summary>
/// The JSON body of a PATCH, read as a document so that a member left out can be told from one sent as null. Bound by
/// <see cref="BindAsync"/>, so the OpenAPI document shows the request type named by <c>Accepts&lt;T&gt;</c> instead.
/// A body that cannot be read throws <see cref="BadHttpRequestException"/>, answered by <see cref="BadRequestExceptionHandler"/>:
/// one that is not JSON, or one with a string that is not Unicode text, as the serializer refuses it on the other endpoints.
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
            CheckText(document.RootElement, "$");
            return new JsonPatchBody(document.RootElement.Clone());
        }
        catch (JsonException ex)
        {
            throw new BadHttpRequestException("The body is not valid JSON.", StatusCodes.Status400BadRequest, ex);
        }
        catch (InvalidOperationException ex)
        {
            // Refusing repeated members means reading every member name while parsing, which throws this for a name that
            // is not Unicode text (an escaped lone surrogate).
            throw NotText("$", ex);
        }
    }

    // JsonDocument checks only the structure: a string is decoded when it is read, and text that is not Unicode (invalid or
    // overlong UTF-8, an escaped lone surrogate such as "\ud800") throws InvalidOperationException there, in the handler,
    // which is a 500. Reading every name and string here, before the handler, makes it the 400 the serializer gives the
    // same bytes on the other endpoints (a JsonException with the path, wrapping the reader's exception).
    private static void CheckText(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException ex)
                    {
                        throw NotText(path, ex);
                    }

                    CheckText(property.Value, path + "." + name);
                }

                break;
            case JsonValueKind.Array:
                var index = 0;
                foreach (var item in element.EnumerateArray())
                {
                    CheckText(item, string.Create(CultureInfo.InvariantCulture, $"{path}[{index++}]"));
                }

                break;
            case JsonValueKind.String:
                try
                {
                    _ = element.GetString();
                }
                catch (InvalidOperationException ex)
                {
                    throw NotText(path, ex);
                }

                break;
        }
    }

    private static BadHttpRequestException NotText(string path, InvalidOperationException ex)
        => new("The body has a string that is not Unicode text.", StatusCodes.Status400BadRequest,
            new JsonException("A string is not valid UTF-8 text, or holds an unpaired surrogate.", path, lineNumber: null, bytePositionInLine: null, ex));
}
