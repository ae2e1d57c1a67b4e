using System.Buffers;
using System.Text.Json;

namespace Idem;

// Member selection: only the chosen members of a JSON body, each a dotted path from the root object, are hashed.
public sealed partial class RequestFingerprint
{
    private bool TryAddJsonMembers(ReadOnlySpan<byte> body, IReadOnlyList<string> members, ArrayBufferWriter<byte> buffer)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body.ToArray());
        }
        catch (JsonException)
        {
            return false;
        }

        using (document)
        {
            // Canonicalise every chosen member before hashing any, so a body that cannot be canonicalised falls back to its
            // raw bytes with nothing of it hashed yet.
            var paths = members.Order(StringComparer.Ordinal).ToArray();
            var values = new byte[]?[paths.Length];
            try
            {
                for (var i = 0; i < paths.Length; i++)
                {
                    if (TryFind(document.RootElement, paths[i], out var element))
                    {
                        buffer.ResetWrittenCount();
                        using (var writer = new Utf8JsonWriter(buffer, CanonicalWriterOptions))
                        {
                            WriteCanonical(element, writer);
                        }

                        values[i] = buffer.WrittenSpan.ToArray();
                    }
                }
            }
            catch (InvalidOperationException)
            {
                // A string that is not valid UTF-16 (a lone surrogate escape): see TryCanonicalize.
                return false;
            }

            if (document.RootElement.ValueKind == JsonValueKind.Object)
            {
                MemberDigest = Idem.MemberDigest.FromMembers(paths, values);
            }

            AppendText("body:members");
            for (var i = 0; i < paths.Length; i++)
            {
                AppendText(paths[i]);
                if (values[i] is { } value)
                {
                    AppendLength(value.Length);
                    Append(value);
                }
                else
                {
                    AppendLength(-1);
                }
            }
        }

        return true;
    }

    private static bool TryFind(JsonElement root, string path, out JsonElement element)
    {
        element = root;
        foreach (var segment in path.Split('.'))
        {
            if (element.ValueKind != JsonValueKind.Object || !element.TryGetProperty(segment, out element))
            {
                return false;
            }
        }

        return true;
    }
}
