using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Unicode;

namespace Idem;

// The fast path: the canonical form of a JSON body in one pass of the reader, without building a document.
public sealed partial class RequestFingerprint
{
    internal enum FastPath
    {
        Written,
        Invalid,
        NeedsSorting,

        /// <summary>Only from <see cref="TryCanonicalizeInto"/>: the canonical form does not fit the destination.</summary>
        NeedsRoom,
    }

    /// <summary>
    /// <see cref="TryCanonicalizeInto"/> onto a buffer writer: room for the JSON's length first, which is enough unless the
    /// writer adds escapes, then for the most escaping can add (six bytes, \u00XX, for one).
    /// </summary>
    internal static FastPath TryCanonicalizeWithoutDocument(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        var outcome = TryCanonicalizeInto(json, output.GetSpan(json.Length), out var written);
        if (outcome == FastPath.NeedsRoom)
        {
            outcome = json.Length <= MaxEscapedJson
                ? TryCanonicalizeInto(json, output.GetSpan(json.Length * MaxEscapeExpansion), out written)
                : FastPath.NeedsSorting;
        }

        if (outcome == FastPath.Written)
        {
            output.Advance(written);
        }

        // The second room is the bound, so it is not short again; were it, the general path would decide.
        return outcome == FastPath.NeedsRoom ? FastPath.NeedsSorting : outcome;
    }

    // Escaping writes at most six bytes for one byte of JSON (a control character or DEL as \u00XX; a four-byte scalar
    // becomes two \uXXXX), and a JSON escape never comes out longer than it went in. Past 16 MiB of JSON, room for that
    // is not asked for: the general path's writer grows its buffer as it goes.
    private const int MaxEscapeExpansion = 6;
    private const int MaxEscapedJson = 16 * 1024 * 1024;

    // The fast path's nesting limit (the general path allows 256), and the most members of an object out of order it
    // sorts: the sort is an insertion sort, so large objects out of order go the general way.
    private const int MaxDepth = 64;
    private const int MaxSortedMembers = 64;

    // Bytes that stop a name or string from being copied as sent: every non-ASCII byte (the encoder then decides on the
    // whole text), and the ASCII the relaxed encoder escapes (controls, '"', '\', DEL). Asked of the encoder itself, so
    // that the fast path and the writer cannot disagree. A table for short text, where a loop over a few bytes is quicker
    // than setting up a vectorised search, and the same set as search values for long text.
    private static readonly bool[] IsVerbatimByte = [.. Enumerable.Range(0, 256).Select(b => b < 0x80 && JavaScriptEncoder.UnsafeRelaxedJsonEscaping.FindFirstCharacterToEncodeUtf8([(byte)b]) < 0)];
    private static readonly SearchValues<byte> NotVerbatim = SearchValues.Create([.. Enumerable.Range(0, 256).Where(b => !IsVerbatimByte[b]).Select(b => (byte)b)]);

    private static int IndexOfNotVerbatim(ReadOnlySpan<byte> text)
    {
        if (text.Length >= 16)
        {
            return text.IndexOfAny(NotVerbatim);
        }

        var isVerbatim = IsVerbatimByte;
        for (var i = 0; i < text.Length; i++)
        {
            if (!isVerbatim[text[i]])
            {
                return i;
            }
        }

        return -1;
    }

    /// <summary>
    /// The common case without building a document, in one pass of the reader and without a writer: when every object's
    /// member names are plain ASCII that the encoder leaves alone, the canonical form is written straight into
    /// <paramref name="destination"/>, exactly as <see cref="WriteCanonical"/> would write it. Names, numbers, literals and
    /// strings the encoder would not escape are copied as sent, which is what the writer makes of them (numbers and
    /// literals are raw values there too); other strings go through the writer as on the general path. An object whose
    /// members turn out to be out of order is rearranged in place when it closes, sorted stably by raw name bytes (for
    /// ASCII, the general path's ordinal order; ties keep the order sent, as there). Returns
    /// <see cref="FastPath.NeedsRoom"/>, with nothing meaningful written, when the form does not fit.
    /// </summary>
    internal static FastPath TryCanonicalizeInto(ReadOnlySpan<byte> json, Span<byte> destination, out int written)
    {
        written = 0;
        var options = new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = MaxDepth };
        var output = new CanonicalOutput(destination);

        // Per open object, by depth; and the members of the open objects, innermost last, kept to sort them. Taken off
        // the thread while in use; what an earlier call left in them does not matter, as each entry is set before use.
        var workspace = t_workspace ?? new Workspace();
        t_workspace = null;
        var open = workspace.Open;
        var members = workspace.Members;
        var pending = 0;
        var depth = 0;
        try
        {
            var reader = new Utf8JsonReader(json, options);
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        if (!output.TryStart((byte)'{'))
                        {
                            return FastPath.NeedsRoom;
                        }

                        open[++depth] = new OpenObject { FirstMember = pending };
                        break;
                    case JsonTokenType.StartArray:
                        if (!output.TryStart((byte)'['))
                        {
                            return FastPath.NeedsRoom;
                        }

                        depth++;
                        break;
                    case JsonTokenType.EndObject:
                        ref var closing = ref open[depth--];
                        if (closing.OutOfOrder)
                        {
                            SortMembers(json, members.AsSpan(closing.FirstMember, pending - closing.FirstMember), output.Written, workspace.Scratch);
                        }

                        pending = closing.FirstMember;
                        if (!output.TryEnd((byte)'}'))
                        {
                            return FastPath.NeedsRoom;
                        }

                        break;
                    case JsonTokenType.EndArray:
                        depth--;
                        if (!output.TryEnd((byte)']'))
                        {
                            return FastPath.NeedsRoom;
                        }

                        break;
                    case JsonTokenType.PropertyName:
                        var name = reader.ValueSpan;
                        if (reader.ValueIsEscaped || IndexOfNotVerbatim(name) >= 0)
                        {
                            // Unescaping, escaping or a sort of non-ASCII names: the general path's work.
                            return FastPath.NeedsSorting;
                        }

                        var nameStart = (int)reader.TokenStartIndex + 1;
                        ref var current = ref open[depth];
                        if (current.Members > 0 && json.Slice(current.LastNameStart, current.LastNameLength).SequenceCompareTo(name) > 0)
                        {
                            current.OutOfOrder = true;
                        }

                        current.LastNameStart = nameStart;
                        current.LastNameLength = name.Length;
                        if (++current.Members > MaxSortedMembers)
                        {
                            // Members past the limit are not kept: an object that large is fine only in order.
                            if (current.OutOfOrder)
                            {
                                return FastPath.NeedsSorting;
                            }
                        }
                        else
                        {
                            if (pending == members.Length)
                            {
                                Array.Resize(ref workspace.Members, members.Length * 2);
                                members = workspace.Members;
                            }

                            members[pending++] = new Member { NameStart = nameStart, NameLength = name.Length, Start = output.NextItem };
                        }

                        if (!output.TryName(name))
                        {
                            return FastPath.NeedsRoom;
                        }

                        break;
                    case JsonTokenType.String:
                        var text = reader.ValueSpan;
                        var fits = !reader.ValueIsEscaped && IsVerbatim(text) ? output.TryQuoted(text) : output.TryValue(WriteString(ref reader));
                        if (!fits)
                        {
                            return FastPath.NeedsRoom;
                        }

                        break;
                    default:
                        // Numbers, true, false, null: their text as sent, as the general path's raw values.
                        if (!output.TryValue(reader.ValueSpan))
                        {
                            return FastPath.NeedsRoom;
                        }

                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Deeper than the fast path's limit, or not JSON: the general path decides.
            return FastPath.NeedsSorting;
        }
        catch (InvalidOperationException)
        {
            // A string that is not valid UTF-16 or UTF-8: not canonicalisable, as on the general path.
            return FastPath.Invalid;
        }
        finally
        {
            if (workspace.Members.Length <= MaxKeptMembers)
            {
                // Not keeping what a body with very many nested members grew it to.
                t_workspace = workspace;
            }
        }

        written = output.Position;
        return FastPath.Written;
    }

    /// <summary>
    /// Whether the writer would write this unescaped string as it is: nothing in it that the encoder escapes (the
    /// writer asks the same encoder, on the UTF-8 for a span, on the UTF-16 on the general path; both decide by scalar),
    /// and valid UTF-8, which is what makes the general path's round trip through a string give the same bytes back.
    /// </summary>
    private static bool IsVerbatim(ReadOnlySpan<byte> text)
    {
        var first = IndexOfNotVerbatim(text);
        return first < 0
            || (text[first] >= 0x80 && Utf8.IsValid(text) && JavaScriptEncoder.UnsafeRelaxedJsonEscaping.FindFirstCharacterToEncodeUtf8(text) < 0);
    }

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_string;

    /// <summary>
    /// A string with escapes, or with text the encoder escapes, written by the writer from a string as the general path
    /// does. The bytes are valid until the next call on this thread.
    /// </summary>
    private static ReadOnlySpan<byte> WriteString(scoped ref Utf8JsonReader reader)
    {
        var scratch = t_string ??= new ArrayBufferWriter<byte>(256);
        scratch.ResetWrittenCount();
        var writer = RentWriter(scratch);
        try
        {
            writer.WriteStringValue(reader.GetString());
            writer.Flush();
        }
        finally
        {
            ReturnWriter(writer);
        }

        if (scratch.Capacity > 1024 * 1024)
        {
            // Not keeping what one huge string grew it to.
            t_string = null;
        }

        return scratch.WrittenSpan;
    }

    /// <summary>
    /// Puts the members of the object just written (the end of <paramref name="written"/>, up to where its closing brace
    /// goes) in order: a stable insertion sort by name, then the members copied back in that order between commas, from
    /// a copy in <paramref name="scratch"/> when they fit in it.
    /// </summary>
    private static void SortMembers(ReadOnlySpan<byte> json, Span<Member> members, Span<byte> written, byte[] scratch)
    {
        // Each member runs from its name to the comma before the next, the last one to the end.
        var first = members[0].Start;
        for (var i = 0; i < members.Length; i++)
        {
            members[i].Length = (i + 1 < members.Length ? members[i + 1].Start - 1 : written.Length) - members[i].Start;
        }

        for (var i = 1; i < members.Length; i++)
        {
            var member = members[i];
            var name = json.Slice(member.NameStart, member.NameLength);
            var j = i - 1;
            while (j >= 0 && json.Slice(members[j].NameStart, members[j].NameLength).SequenceCompareTo(name) > 0)
            {
                members[j + 1] = members[j];
                j--;
            }

            members[j + 1] = member;
        }

        var region = written[first..];
        byte[]? rented = null;
        Span<byte> copy = region.Length <= scratch.Length ? scratch : (rented = ArrayPool<byte>.Shared.Rent(region.Length));
        region.CopyTo(copy);
        var at = 0;
        for (var i = 0; i < members.Length; i++)
        {
            if (i > 0)
            {
                region[at++] = (byte)',';
            }

            copy.Slice(members[i].Start - first, members[i].Length).CopyTo(region[at..]);
            at += members[i].Length;
        }

        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }
}
