using System.Buffers;
using System.Globalization;
using System.Text.Json;

namespace Idem.Payments.Web;

/// <summary>
/// Metadata: a client's own key-value strings on an object, bounded so it cannot grow without limit. Stored as canonical
/// JSON (keys in ordinal order), so equal metadata is equal text and an unchanged PUT is recognised as unchanged.
/// </summary>
internal static class Metadata
{
    public const int MaxEntries = 20;
    public const int MaxKeyLength = 40;
    public const int MaxValueLength = 500;

    public const string Empty = "{}";

    /// <summary>Checks bound metadata (null: none) and returns its canonical JSON, or null after adding what is wrong to <paramref name="errors"/>.</summary>
    public static string? Canonical(IReadOnlyDictionary<string, string?>? metadata, RequestErrors errors, string member = "metadata")
    {
        if (metadata is null)
        {
            return Empty;
        }

        var ok = CheckCount(metadata.Count, errors, member);
        foreach (var (key, value) in metadata)
        {
            ok &= CheckEntry(key, value, errors, member);
        }

        return ok ? Write(metadata.Select(e => (e.Key, e.Value!))) : null;
    }

    /// <summary>Checks a JSON value given for metadata (an object of strings, or null for none); canonical JSON or null when invalid.</summary>
    public static string? Canonical(JsonElement element, RequestErrors errors, string member = "metadata")
    {
        if (element.ValueKind == JsonValueKind.Null)
        {
            return Empty;
        }

        if (element.ValueKind != JsonValueKind.Object)
        {
            errors.Add(member, "Must be an object of string values, or null to remove all metadata.");
            return null;
        }

        var entries = new List<(string, string)>();
        var ok = true;
        foreach (var property in element.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                errors.Add(member, $"The value of '{Shorten(property.Name)}' must be a string.");
                ok = false;
                continue;
            }

            var value = property.Value.GetString()!;
            ok &= CheckEntry(property.Name, value, errors, member);
            entries.Add((property.Name, value));
        }

        ok &= CheckCount(entries.Count, errors, member);
        return ok ? Write(entries) : null;
    }

    public static Dictionary<string, string> Parse(string json)
    {
        using var document = JsonDocument.Parse(json);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            metadata[property.Name] = property.Value.GetString()!;
        }

        return metadata;
    }

    private static bool CheckCount(int count, RequestErrors errors, string member)
    {
        if (count > MaxEntries)
        {
            errors.Add(member, string.Create(CultureInfo.InvariantCulture, $"At most {MaxEntries} entries."));
            return false;
        }

        return true;
    }

    private static bool CheckEntry(string key, string? value, RequestErrors errors, string member)
    {
        var ok = true;
        if (key.Length is 0 or > MaxKeyLength || key.Any(char.IsControl))
        {
            errors.Add(member, string.Create(CultureInfo.InvariantCulture, $"Key '{Shorten(key)}': keys are 1-{MaxKeyLength} characters, with no control characters."));
            ok = false;
        }

        if (value is null)
        {
            errors.Add(member, $"The value of '{Shorten(key)}' must be a string; remove the key instead of sending null.");
            ok = false;
        }
        else if (value.Length > MaxValueLength)
        {
            errors.Add(member, string.Create(CultureInfo.InvariantCulture, $"The value of '{Shorten(key)}' is longer than {MaxValueLength} characters."));
            ok = false;
        }

        return ok;
    }

    private static string Write(IEnumerable<(string Key, string Value)> entries)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (var (key, value) in entries.OrderBy(e => e.Key, StringComparer.Ordinal))
            {
                writer.WriteString(key, value);
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static string Shorten(string key) => key.Length <= MaxKeyLength ? key : key[..MaxKeyLength] + "…";
}
