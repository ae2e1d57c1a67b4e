using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore;

/// <summary>Writes RFC 9457 problem+json responses.</summary>
internal static class ProblemWriter
{
    // problem+json is read by programs and people, never embedded in HTML: keep quotes and apostrophes readable.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Writes the problem; <paramref name="fields"/>, when given, as its <c>fields</c> extension (a list of names).</summary>
    public static async Task WriteAsync(HttpContext context, int status, string type, string title, string detail, TimeSpan? retryAfter = null, IReadOnlyList<string>? fields = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/problem+json";
        if (retryAfter is { } after)
        {
            response.Headers.RetryAfter = Math.Max(1, (long)Math.Ceiling(after.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        }

        using var buffer = new MemoryStream(256);
        using (var writer = new Utf8JsonWriter(buffer, WriterOptions))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WriteString("title", title);
            writer.WriteNumber("status", status);
            writer.WriteString("detail", detail);
            if (fields is not null)
            {
                writer.WriteStartArray("fields");
                foreach (var field in fields)
                {
                    writer.WriteStringValue(field);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        response.ContentLength = buffer.Length;
        await response.Body.WriteAsync(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), context.RequestAborted).ConfigureAwait(false);
    }
}
