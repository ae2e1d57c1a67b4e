namespace Idem.Tests;

public sealed class IdempotencyKeyTests
{
    private const int Max = IdempotencyKey.DefaultMaxLength;

    [Theory]
    [InlineData("abc-123")]
    [InlineData("\"abc-123\"")]
    [InlineData("  abc-123\t")]
    [InlineData(" \"abc-123\" ")]
    public void Parse_BareTokenOrQuotedString_GiveTheSameKey(string header)
    {
        var error = IdempotencyKey.Parse([header], Max, out var key);

        Assert.Equal(KeyError.None, error);
        Assert.Equal("abc-123", key);
    }

    [Fact]
    public void Parse_EveryPrintableAsciiCharacterBare_IsAccepted()
    {
        // Printable ASCII except the quote (which opens a string) and the comma (which makes a list).
        var all = new string(Enumerable.Range(0x21, 0x7E - 0x21 + 1).Select(c => (char)c).Where(c => c is not ('"' or ',')).ToArray());

        Assert.Equal(KeyError.None, IdempotencyKey.Parse([all], Max, out var key));
        Assert.Equal(all, key);
    }

    [Fact]
    public void Parse_QuotedStringWithEscapes_Unescapes()
    {
        Assert.Equal(KeyError.None, IdempotencyKey.Parse(["\"a\\\"b\\\\c\""], Max, out var key));
        Assert.Equal("a\"b\\c", key);
    }

    [Fact]
    public void Parse_QuotedStringWithComma_IsOneKey()
    {
        Assert.Equal(KeyError.None, IdempotencyKey.Parse(["\"a,b\""], Max, out var key));
        Assert.Equal("a,b", key);
    }

    [Fact]
    public void Parse_MaxLengthBare_IsAccepted()
    {
        var value = new string('k', 255);

        Assert.Equal(KeyError.None, IdempotencyKey.Parse([value], Max, out var key));
        Assert.Equal(value, key);
    }

    [Fact]
    public void Parse_MaxLengthQuoted_IsAccepted()
    {
        var value = new string('k', 255);

        Assert.Equal(KeyError.None, IdempotencyKey.Parse(['"' + value + '"'], Max, out var key));
        Assert.Equal(value, key);
    }

    [Fact]
    public void Parse_QuotedLengthCountsUnescapedCharacters()
    {
        // 254 characters plus one escaped quote: 255 after unescaping, 256 between the quotes.
        var value = new string('k', 254) + "\\\"";

        Assert.Equal(KeyError.None, IdempotencyKey.Parse(['"' + value + '"'], Max, out var key));
        Assert.Equal(255, key!.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Parse_OverMaxLength_IsTooLong(bool quoted)
    {
        var value = new string('k', 256);
        var header = quoted ? '"' + value + '"' : value;

        Assert.Equal(KeyError.TooLong, IdempotencyKey.Parse([header], Max, out var key));
        Assert.Null(key);
    }

    [Fact]
    public void Parse_ConfiguredMaxLength_IsHonoured()
    {
        Assert.Equal(KeyError.None, IdempotencyKey.Parse(["abcd"], 4, out _));
        Assert.Equal(KeyError.TooLong, IdempotencyKey.Parse(["abcde"], 4, out _));
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("\"a b\"")]
    [InlineData("a\u0001b")]
    [InlineData("a\u007Fb")]
    [InlineData("\"a\u0000\"")]
    [InlineData("a\tb")]
    [InlineData("clé")]
    [InlineData("\"clé\"")]
    [InlineData("key-\u6771")]
    [InlineData("a\"b")]
    public void Parse_CharacterOutsidePrintableAscii_IsInvalid(string header)
    {
        Assert.Equal(KeyError.InvalidCharacter, IdempotencyKey.Parse([header], Max, out var key));
        Assert.Null(key);
    }

    [Fact]
    public void Parse_RepeatedHeader_IsMultiple()
    {
        Assert.Equal(KeyError.Multiple, IdempotencyKey.Parse(["a", "a"], Max, out var key));
        Assert.Null(key);
    }

    [Theory]
    [InlineData("a,b")]
    [InlineData("a, b")]
    [InlineData("\"a\", \"b\"")]
    [InlineData("\"a\",\"b\"")]
    [InlineData("\"a\" , b")]
    public void Parse_ListInOneHeader_IsMultiple(string header)
    {
        Assert.Equal(KeyError.Multiple, IdempotencyKey.Parse([header], Max, out var key));
        Assert.Null(key);
    }

    [Theory]
    [InlineData("\"abc")]
    [InlineData("\"abc\\\"")]
    [InlineData("\"a\\bc\"")]
    [InlineData("\"a\\nb\"")]
    [InlineData("\"abc\\")]
    [InlineData("\"abc\";p=1")]
    [InlineData("\"abc\"x")]
    public void Parse_BadQuotedString_IsMalformed(string header)
    {
        Assert.Equal(KeyError.Malformed, IdempotencyKey.Parse([header], Max, out var key));
        Assert.Null(key);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("\"\"")]
    [InlineData(" \"\" ")]
    public void Parse_EmptyValue_IsEmpty(string header)
    {
        Assert.Equal(KeyError.Empty, IdempotencyKey.Parse([header], Max, out var key));
        Assert.Null(key);
    }

    [Fact]
    public void Parse_NullValue_IsEmpty()
        => Assert.Equal(KeyError.Empty, IdempotencyKey.Parse([null], Max, out _));

    [Fact]
    public void Parse_NoValues_IsMissing()
    {
        Assert.Equal(KeyError.Missing, IdempotencyKey.Parse(Array.Empty<string?>(), Max, out var key));
        Assert.Null(key);
    }

    [Fact]
    public void Parse_NullList_IsMissing()
        => Assert.Equal(KeyError.Missing, IdempotencyKey.Parse((IReadOnlyList<string?>)null!, Max, out _));

    [Fact]
    public void Parse_LongQuotedValueBeyondStackBuffer_Works()
    {
        var value = new string('q', 600);

        Assert.Equal(KeyError.None, IdempotencyKey.Parse(['"' + value + '"'], 1000, out var key));
        Assert.Equal(value, key);
    }
}
