using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Idem;

/// <summary>
/// Computes a request fingerprint: a SHA-256 over named parts (method, route template, route values, sorted query,
/// content type) and the whole body. A JSON body is canonicalised first, so member order and insignificant whitespace
/// do not change it (BEHAVIOUR §3). Every part is length-prefixed, so no two different requests can hash the same input.
/// </summary>
public sealed class RequestFingerprint : IDisposable
{
    private static readonly JsonWriterOptions CanonicalWriterOptions = new()
    {
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        Indented = false,
        SkipValidation = true,
    };

    // Parts are gathered in a pooled buffer and hashed in one call: an IncrementalHash is a native context behind a
    // finalizable handle, which costs more than hashing a small request. Past this size the gathered bytes go into one.
    private const int MaxGathered = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? t_canonical;

    private byte[] _gathered = ArrayPool<byte>.Shared.Rent(1024);
    private int _gatheredLength;
    private IncrementalHash? _hash;
    private bool _finished;

    /// <summary>Adds a named text part (method, route template, content type, one route value or query parameter).</summary>
    public void Add(string name, string? value)
    {
        AppendText(name);
        if (value is null)
        {
            AppendLength(-1);
        }
        else
        {
            AppendText(value);
        }
    }

    /// <summary>
    /// Adds the body. When <paramref name="isJson"/> and the bytes parse as JSON, the canonical form is hashed (and, when
    /// <paramref name="members"/> is given, only those members, each a dotted path from the root object); otherwise the
    /// raw bytes are.
    /// </summary>
    public void AddBody(ReadOnlySpan<byte> body, bool isJson, IReadOnlyList<string>? members = null)
    {
        if (isJson && TryAddCanonicalJson(body, members))
        {
            return;
        }

        AppendText("body:raw");
        AppendLength(body.Length);
        Append(body);
    }

    /// <summary>Finishes the hash as 64 lowercase hex characters.</summary>
    public string Finish()
    {
        ObjectDisposedException.ThrowIf(_finished, this);
        _finished = true;
        Span<byte> digest = stackalloc byte[32];
        if (_hash is null)
        {
            SHA256.HashData(_gathered.AsSpan(0, _gatheredLength), digest);
        }
        else
        {
            _hash.GetHashAndReset(digest);
        }

        return Convert.ToHexStringLower(digest);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        _hash?.Dispose();
        if (_gathered.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(_gathered);
            _gathered = [];
        }
    }

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

    internal enum FastPath
    {
        Written,
        Invalid,
        NeedsSorting,
    }

    /// <summary>
    /// The common case without building a document: when every object's member names are plain ASCII and unescaped, the
    /// canonical form can be written from the token stream, sorting each object's members by their raw name bytes (for
    /// ASCII, the same order as the general path's ordinal string sort; ties keep the order sent, as there). One pass
    /// checks that, a second writes the tokens exactly as <see cref="WriteCanonical"/> would, so both paths give
    /// identical bytes. Objects already in order are copied token by token; others are written member by member.
    /// </summary>
    internal static FastPath TryCanonicalizeWithoutDocument(ReadOnlySpan<byte> json, IBufferWriter<byte> output)
    {
        const int MaxDepth = 64;
        var options = new JsonReaderOptions { CommentHandling = JsonCommentHandling.Disallow, MaxDepth = MaxDepth };
        Span<int> lastStart = stackalloc int[MaxDepth + 1];
        Span<int> lastLength = stackalloc int[MaxDepth + 1];
        Span<int> members = stackalloc int[MaxDepth + 1];
        var reorder = false;
        var mostMembers = 0;
        try
        {
            var reader = new Utf8JsonReader(json, options);
            while (reader.Read())
            {
                switch (reader.TokenType)
                {
                    case JsonTokenType.StartObject:
                        lastLength[reader.CurrentDepth + 1] = -1;
                        members[reader.CurrentDepth + 1] = 0;
                        break;
                    case JsonTokenType.PropertyName:
                        if (reader.ValueIsEscaped || reader.HasValueSequence)
                        {
                            return FastPath.NeedsSorting;
                        }

                        var name = reader.ValueSpan;
                        if (System.Text.Ascii.IsValid(name) is false)
                        {
                            return FastPath.NeedsSorting;
                        }

                        var depth = reader.CurrentDepth;
                        var start = (int)reader.TokenStartIndex + 1;
                        if (lastLength[depth] >= 0 && json.Slice(lastStart[depth], lastLength[depth]).SequenceCompareTo(name) >= 0)
                        {
                            // Out of order, or a repeated name: written member by member, sorted stably.
                            reorder = true;
                        }

                        lastStart[depth] = start;
                        lastLength[depth] = name.Length;
                        mostMembers = Math.Max(mostMembers, ++members[depth]);
                        break;
                }
            }
        }
        catch (JsonException)
        {
            // Deeper than the fast path's limit, or not JSON: the general path decides.
            return FastPath.NeedsSorting;
        }

        if (reorder && mostMembers > MaxSortedMembers)
        {
            // The member sort here is an insertion sort: large objects out of order go the general way.
            return FastPath.NeedsSorting;
        }

        try
        {
            var reader = new Utf8JsonReader(json, options);
            var writer = RentWriter(output);
            try
            {
                if (reorder)
                {
                    reader.Read();
                    WriteSorted(json, ref reader, writer, options);
                }
                else
                {
                    while (reader.Read())
                    {
                        switch (reader.TokenType)
                        {
                            case JsonTokenType.StartObject:
                                writer.WriteStartObject();
                                break;
                            case JsonTokenType.EndObject:
                                writer.WriteEndObject();
                                break;
                            case JsonTokenType.StartArray:
                                writer.WriteStartArray();
                                break;
                            case JsonTokenType.EndArray:
                                writer.WriteEndArray();
                                break;
                            case JsonTokenType.PropertyName:
                                writer.WritePropertyName(reader.ValueSpan);
                                break;
                            default:
                                WriteScalar(ref reader, writer);
                                break;
                        }
                    }
                }

                writer.Flush();
            }
            finally
            {
                ReturnWriter(writer);
            }

            return FastPath.Written;
        }
        catch (InvalidOperationException)
        {
            // A string that is not valid UTF-16 or UTF-8: not canonicalisable, as on the general path.
            return FastPath.Invalid;
        }
    }

    private const int MaxSortedMembers = 64;

    [ThreadStatic]
    private static Utf8JsonWriter? t_writer;

    // One writer per thread, reset onto each output: a Utf8JsonWriter per fingerprint was an allocation per request.
    private static Utf8JsonWriter RentWriter(IBufferWriter<byte> output)
    {
        var writer = t_writer;
        if (writer is null)
        {
            return new Utf8JsonWriter(output, CanonicalWriterOptions);
        }

        t_writer = null;
        writer.Reset(output);
        return writer;
    }

    private static void ReturnWriter(Utf8JsonWriter writer)
    {
        // Not holding on to the caller's output.
        writer.Reset(NoOutput.Instance);
        t_writer = writer;
    }

    /// <summary>Strings as the general path writes them; numbers, true, false, null as their text as sent.</summary>
    private static void WriteScalar(ref Utf8JsonReader reader, Utf8JsonWriter writer)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            if (reader.ValueIsEscaped || !System.Text.Ascii.IsValid(reader.ValueSpan))
            {
                // Through a string, as the general path does, so escapes and non-ASCII text come out the same.
                writer.WriteStringValue(reader.GetString());
            }
            else
            {
                writer.WriteStringValue(reader.ValueSpan);
            }
        }
        else
        {
            writer.WriteRawValue(reader.ValueSpan, skipInputValidation: true);
        }
    }

    /// <summary>Writes the value the reader is on, sorting the members of every object in it.</summary>
    private static void WriteSorted(ReadOnlySpan<byte> json, ref Utf8JsonReader reader, Utf8JsonWriter writer, JsonReaderOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.StartObject:
                WriteSortedObject(json, ref reader, writer, options);
                break;
            case JsonTokenType.StartArray:
                writer.WriteStartArray();
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    WriteSorted(json, ref reader, writer, options);
                }

                writer.WriteEndArray();
                break;
            default:
                WriteScalar(ref reader, writer);
                break;
        }
    }

    private static void WriteSortedObject(ReadOnlySpan<byte> json, ref Utf8JsonReader reader, Utf8JsonWriter writer, JsonReaderOptions options)
    {
        // Four ints per member: name start, name length, value start, value length (all within json).
        var members = ArrayPool<int>.Shared.Rent(4 * MaxSortedMembers);
        try
        {
            var count = 0;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var slot = 4 * count++;
                members[slot] = (int)reader.TokenStartIndex + 1;
                members[slot + 1] = reader.ValueSpan.Length;
                reader.Read();
                var valueStart = (int)reader.TokenStartIndex;
                if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                {
                    reader.Skip();
                }

                members[slot + 2] = valueStart;
                members[slot + 3] = (int)reader.BytesConsumed - valueStart;
            }

            // Stable insertion sort by name bytes: equal names keep the order sent.
            for (var i = 1; i < count; i++)
            {
                var (nameStart, nameLength, valueStart, valueLength) = (members[4 * i], members[4 * i + 1], members[4 * i + 2], members[4 * i + 3]);
                var name = json.Slice(nameStart, nameLength);
                var j = i - 1;
                while (j >= 0 && json.Slice(members[4 * j], members[4 * j + 1]).SequenceCompareTo(name) > 0)
                {
                    members.AsSpan(4 * j, 4).CopyTo(members.AsSpan(4 * (j + 1), 4));
                    j--;
                }

                (members[4 * (j + 1)], members[4 * (j + 1) + 1], members[4 * (j + 1) + 2], members[4 * (j + 1) + 3]) = (nameStart, nameLength, valueStart, valueLength);
            }

            writer.WriteStartObject();
            for (var i = 0; i < count; i++)
            {
                writer.WritePropertyName(json.Slice(members[4 * i], members[4 * i + 1]));
                var value = json.Slice(members[4 * i + 2], members[4 * i + 3]);
                var valueReader = new Utf8JsonReader(value, options);
                valueReader.Read();
                WriteSorted(value, ref valueReader, writer, options);
            }

            writer.WriteEndObject();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(members);
        }
    }

    private sealed class NoOutput : IBufferWriter<byte>
    {
        public static readonly NoOutput Instance = new();

        public void Advance(int count) => throw new InvalidOperationException();

        public Memory<byte> GetMemory(int sizeHint = 0) => throw new InvalidOperationException();

        public Span<byte> GetSpan(int sizeHint = 0) => throw new InvalidOperationException();
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

    private bool TryAddCanonicalJson(ReadOnlySpan<byte> body, IReadOnlyList<string>? members)
    {
        // One canonical buffer per thread, reused: the canonical form is hashed before anything else runs on the thread.
        var buffer = t_canonical ??= new ArrayBufferWriter<byte>(1024);
        buffer.ResetWrittenCount();
        try
        {
            return members is null || members.Count == 0 ? TryAddWholeJson(body, buffer) : TryAddJsonMembers(body, members, buffer);
        }
        finally
        {
            ReleaseCanonicalBuffer(buffer);
        }
    }

    private bool TryAddWholeJson(ReadOnlySpan<byte> body, ArrayBufferWriter<byte> buffer)
    {
        if (!TryCanonicalize(body, buffer))
        {
            return false;
        }

        AppendText("body:json");
        AppendLength(buffer.WrittenCount);
        Append(buffer.WrittenSpan);
        return true;
    }

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
    /// sort per object, which made a 64 KiB body allocate 23 times its size; members already in order are not sorted.
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

    private void Append(ReadOnlySpan<byte> data)
    {
        if (_hash is not null)
        {
            _hash.AppendData(data);
            return;
        }

        var needed = _gatheredLength + data.Length;
        if (needed > MaxGathered)
        {
            _hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            _hash.AppendData(_gathered.AsSpan(0, _gatheredLength));
            _hash.AppendData(data);
            return;
        }

        if (needed > _gathered.Length)
        {
            var larger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, _gathered.Length * 2));
            _gathered.AsSpan(0, _gatheredLength).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_gathered);
            _gathered = larger;
        }

        data.CopyTo(_gathered.AsSpan(_gatheredLength));
        _gatheredLength = needed;
    }

    private static void ReleaseCanonicalBuffer(ArrayBufferWriter<byte> buffer)
    {
        // Keep the thread's buffer for the next request unless one huge body grew it.
        if (buffer.Capacity > 1024 * 1024)
        {
            t_canonical = null;
        }
    }

    private void AppendText(string text)
    {
        var byteCount = Encoding.UTF8.GetByteCount(text);
        AppendLength(byteCount);
        if (byteCount <= 256)
        {
            Span<byte> bytes = stackalloc byte[byteCount];
            Encoding.UTF8.GetBytes(text, bytes);
            Append(bytes);
        }
        else
        {
            Append(Encoding.UTF8.GetBytes(text));
        }
    }

    private void AppendLength(int length)
    {
        Span<byte> prefix = stackalloc byte[4];
        BinaryPrimitives.WriteInt32LittleEndian(prefix, length);
        Append(prefix);
    }
}
