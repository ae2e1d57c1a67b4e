using System.Buffers;
using System.Runtime.InteropServices;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Idem;

// The general path: the canonical form written from a parsed document, for whatever the fast path leaves to it.
public sealed partial class RequestFingerprint
{
    private static readonly JsonWriterOptions CanonicalWriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    /// <summary>
    /// Writes the canonical form of a JSON document: members sorted by name (ordinal), no whitespace. Returns false, with
    /// <paramref name="output"/> meaningless, when the bytes are not one JSON document that can be canonicalised.
    /// </summary>
    internal static bool TryCanonicalize(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        switch (TryCanonicalizeWithoutDocument(json, output))
        {
            case FastPath.Written:
                return true;
            case FastPath.Invalid:
                return false;
        }

        return TryCanonicalizeSorted(json, output);
    }

    internal static bool TryCanonicalizeSorted(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        JsonDocument? document = null;
        try
        {
            var reader = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = 256 });
            document = JsonDocument.ParseValue(ref reader);
            if (reader.Read())
            {
                // Trailing content after the value: not one JSON document.
                return false;
            }

            using var writer = new Utf8JsonWriter(output, CanonicalWriterOptions);
            WriteCanonical(document.RootElement, writer);
            return true;
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            // Not JSON, or JSON with a string that is not valid UTF-16 (a lone surrogate escape such as "\ud800", which
            // parses but cannot be read as a string): the caller hashes the raw bytes instead.
            return false;
        }
        finally
        {
            document?.Dispose();
        }
    }

    private static void WriteCanonical(JsonElement element, Utf8JsonWriter writer)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                WriteCanonicalObject(element, writer);
                break;
            case JsonValueKind.Array:
                writer.WriteStartArray();
                foreach (var item in element.EnumerateArray())
                {
                    WriteCanonical(item, writer);
                }

                writer.WriteEndArray();
                break;
            case JsonValueKind.String:
                writer.WriteStringValue(element.GetString());
                break;
            default:
                // Numbers, true, false, null: their text as sent (the raw bytes, without a string in between).
                writer.WriteRawValue(JsonMarshal.GetRawUtf8Value(element), skipInputValidation: true);
                break;
        }
    }

    /// <summary>
    /// Members sorted by name (ordinal), duplicate names in the order sent. Pooled arrays rather than a list and a LINQ
    /// sort per object, so that a large body does not allocate many times its size; members already in order are not
    /// sorted.
    /// </summary>
    private static void WriteCanonicalObject(JsonElement element, Utf8JsonWriter writer)
    {
        var count = element.GetPropertyCount();
        var values = ArrayPool<JsonElement>.Shared.Rent(count);
        var names = ArrayPool<string>.Shared.Rent(count);
        var order = ArrayPool<int>.Shared.Rent(count);
        try
        {
            var i = 0;
            var sorted = true;
            foreach (var property in element.EnumerateObject())
            {
                values[i] = property.Value;
                names[i] = property.Name;
                order[i] = i;
                sorted &= i == 0 || string.CompareOrdinal(names[i - 1], names[i]) <= 0;
                i++;
            }

            if (!sorted)
            {
                // Ties broken by position: the same stable order as OrderBy(name, StringComparer.Ordinal).
                Array.Sort(order, 0, count, Comparer<int>.Create((a, b) =>
                {
                    var byName = string.CompareOrdinal(names[a], names[b]);
                    return byName != 0 ? byName : a.CompareTo(b);
                }));
            }

            writer.WriteStartObject();
            for (var j = 0; j < count; j++)
            {
                writer.WritePropertyName(names[order[j]]);
                WriteCanonical(values[order[j]], writer);
            }

            writer.WriteEndObject();
        }
        finally
        {
            ArrayPool<JsonElement>.Shared.Return(values, clearArray: true);
            ArrayPool<string>.Shared.Return(names, clearArray: true);
            ArrayPool<int>.Shared.Return(order);
        }
    }
}
