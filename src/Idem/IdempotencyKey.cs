namespace Idem;

/// <summary>Why a key header was refused.</summary>
public enum KeyError
{
    /// <summary>The key is well-formed.</summary>
    None,

    /// <summary>No key was sent.</summary>
    Missing,

    /// <summary>The key is empty.</summary>
    Empty,

    /// <summary>The key is longer than the configured maximum.</summary>
    TooLong,

    /// <summary>The key has a character outside printable ASCII (0x21–0x7E).</summary>
    InvalidCharacter,

    /// <summary>A structured-field string is not closed or has a bad escape.</summary>
    Malformed,

    /// <summary>The header was repeated, or one header carried a list.</summary>
    Multiple,
}

/// <summary>
/// Parses the <c>Idempotency-Key</c> header. It accepts the structured-field string of the IETF draft
/// (<c>"abc-123"</c>) and the bare token most clients send (<c>abc-123</c>); both give the same key.
/// </summary>
public static class IdempotencyKey
{
    /// <summary>The default maximum key length, as Stripe allows.</summary>
    public const int DefaultMaxLength = 255;

    /// <summary>Parses the values of a key header (all occurrences of it in the request).</summary>
    /// <param name="values">Each header line's value; more than one is refused.</param>
    /// <param name="maxLength">The longest key accepted.</param>
    /// <param name="key">The key, when the result is <see cref="KeyError.None"/>.</param>
    public static KeyError Parse(IReadOnlyList<string?> values, int maxLength, out string? key)
    {
        key = null;
        if (values is null || values.Count == 0)
        {
            return KeyError.Missing;
        }

        if (values.Count > 1)
        {
            return KeyError.Multiple;
        }

        return Parse(values[0], maxLength, out key);
    }

    /// <summary>Parses one header value.</summary>
    public static KeyError Parse(ReadOnlySpan<char> value, int maxLength, out string? key) => Parse(value, null, maxLength, out key);

    /// <summary>Parses one header value; a bare token that is the whole value is that same string, not a copy.</summary>
    public static KeyError Parse(string? value, int maxLength, out string? key) => Parse(value.AsSpan(), value, maxLength, out key);

    private static KeyError Parse(ReadOnlySpan<char> value, string? whole, int maxLength, out string? key)
    {
        key = null;
        value = value.Trim(" \t");
        if (value.IsEmpty)
        {
            return KeyError.Empty;
        }

        if (value[0] == '"')
        {
            return ParseQuoted(value, maxLength, out key);
        }

        foreach (var c in value)
        {
            if (c == ',')
            {
                return KeyError.Multiple;
            }

            if (c is < '\x21' or > '\x7E' or '"')
            {
                return KeyError.InvalidCharacter;
            }
        }

        if (value.Length > maxLength)
        {
            return KeyError.TooLong;
        }

        key = whole is not null && whole.Length == value.Length ? whole : value.ToString();
        return KeyError.None;
    }

    private static KeyError ParseQuoted(ReadOnlySpan<char> value, int maxLength, out string? key)
    {
        key = null;
        Span<char> buffer = value.Length <= 512 ? stackalloc char[value.Length] : new char[value.Length];
        var length = 0;
        var i = 1;
        var closed = false;
        for (; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '\\')
            {
                if (++i == value.Length || value[i] is not ('"' or '\\'))
                {
                    return KeyError.Malformed;
                }

                buffer[length++] = value[i];
            }
            else if (c == '"')
            {
                closed = true;
                i++;
                break;
            }
            else if (c is < '\x21' or > '\x7E')
            {
                return KeyError.InvalidCharacter;
            }
            else
            {
                buffer[length++] = c;
            }
        }

        if (!closed)
        {
            return KeyError.Malformed;
        }

        var rest = value[i..].TrimStart(" \t");
        if (!rest.IsEmpty)
        {
            // `"a", "b"` is a list; `"a";p=1` carries parameters, which the draft does not define for this header.
            return rest[0] == ',' ? KeyError.Multiple : KeyError.Malformed;
        }

        if (length == 0)
        {
            return KeyError.Empty;
        }

        if (length > maxLength)
        {
            return KeyError.TooLong;
        }

        key = new string(buffer[..length]);
        return KeyError.None;
    }
}
