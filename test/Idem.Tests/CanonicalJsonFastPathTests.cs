using System.Buffers;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Xunit;

namespace Idem.Tests;

/// <summary>
/// The in-order fast path must give exactly the bytes the general (document, sorting) path gives, or fingerprints would
/// depend on which path a body took.
/// </summary>
public sealed class CanonicalJsonFastPathTests
{
    private static readonly string[] Strings =
    [
        "", "plain", "with space", "quote\"inside", "back\\slash", "tab\tnew\nline", "caf\u00e9", "\u65e5\u672c", "emoji \ud83d\ude00",
        "<script>&amp;", "\u0001control", "slash/", "\u2028sep",
    ];

    private static readonly JsonSerializerOptions Escaped = new();
    private static readonly JsonSerializerOptions Raw = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    [Fact]
    public void TryCanonicalizeWithoutDocument_SortedDocuments_MatchesGeneralPathByteForByte()
        => AssertMatchesGeneralPath(sorted: true, seed: 20261128);

    [Fact]
    public void TryCanonicalizeWithoutDocument_UnsortedDocumentsWithRepeatedNames_MatchesGeneralPathByteForByte()
        => AssertMatchesGeneralPath(sorted: false, seed: 20261129);

    [Theory]
    [InlineData("""{"b":1,"a":2}""", """{"a":2,"b":1}""")]
    [InlineData("""{"a":1,"a":2}""", """{"a":1,"a":2}""")]
    [InlineData("""{"b":2,"a":3,"b":1}""", """{"a":3,"b":2,"b":1}""")]
    [InlineData("""{"a":{"d":1,"c":2}}""", """{"a":{"c":2,"d":1}}""")]
    [InlineData("""[{"y":[{"b":"\u0041","a":null}],"x":-0}]""", """[{"x":-0,"y":[{"a":null,"b":"A"}]}]""")]
    public void TryCanonicalizeWithoutDocument_MembersOutOfOrder_SortsThemAsTheGeneralPathDoes(string json, string canonical)
    {
        var bytes = Encoding.UTF8.GetBytes(json);
        var fast = new ArrayBufferWriter<byte>();
        var general = new ArrayBufferWriter<byte>();

        Assert.Equal(RequestFingerprint.FastPath.Written, RequestFingerprint.TryCanonicalizeWithoutDocument(bytes, fast));
        Assert.True(RequestFingerprint.TryCanonicalizeSorted(bytes, general));
        Assert.Equal(canonical, Encoding.UTF8.GetString(fast.WrittenSpan));
        Assert.Equal(canonical, Encoding.UTF8.GetString(general.WrittenSpan));
    }

    private static void AssertMatchesGeneralPath(bool sorted, int seed)
    {
        var random = new Random(seed);
        var fastPathTaken = 0;
        for (var i = 0; i < 3000; i++)
        {
            var json = Generate(random, depth: 0, sorted, escapeSometimes: true);
            var bytes = Encoding.UTF8.GetBytes(json);

            var fast = new ArrayBufferWriter<byte>();
            var general = new ArrayBufferWriter<byte>();
            var outcome = RequestFingerprint.TryCanonicalizeWithoutDocument(bytes, fast);
            var generalOk = RequestFingerprint.TryCanonicalizeSorted(bytes, general);

            Assert.True(generalOk, json);
            Assert.NotEqual(RequestFingerprint.FastPath.Invalid, outcome);
            if (outcome == RequestFingerprint.FastPath.Written)
            {
                fastPathTaken++;
                Assert.True(fast.WrittenSpan.SequenceEqual(general.WrittenSpan), $"{json}\nfast:    {Encoding.UTF8.GetString(fast.WrittenSpan)}\ngeneral: {Encoding.UTF8.GetString(general.WrittenSpan)}");
            }
        }

        // Most generated documents qualify; the rest have escaped or non-ASCII names and go the general way.
        Assert.True(fastPathTaken > 1500, $"fast path taken {fastPathTaken} times");
    }

    [Theory]
    [InlineData("""{"\u0061":1}""")]
    [InlineData("""{"é":1,"a":2}""")]
    public void TryCanonicalizeWithoutDocument_NamesNeedingWork_LeavesThemToGeneralPath(string json)
    {
        var outcome = RequestFingerprint.TryCanonicalizeWithoutDocument(Encoding.UTF8.GetBytes(json), new ArrayBufferWriter<byte>());

        Assert.Equal(RequestFingerprint.FastPath.NeedsSorting, outcome);
    }

    [Theory]
    [InlineData("""{"a":1} x""")]
    [InlineData("""{"a":1""")]
    [InlineData("""{"a":1,}""")]
    [InlineData("""{"a":"\ud800"}""")]
    public void TryCanonicalize_NotCanonicalisable_ReturnsFalseOnBothPaths(string json)
    {
        var bytes = Encoding.UTF8.GetBytes(json);

        Assert.False(RequestFingerprint.TryCanonicalize(bytes, new ArrayBufferWriter<byte>()));
        Assert.False(RequestFingerprint.TryCanonicalizeSorted(bytes, new ArrayBufferWriter<byte>()));
    }

    [Fact]
    public void TryCanonicalize_WhitespaceAndOrderVariants_GiveOneForm()
    {
        string[] variants =
        [
            """{"amount":100,"currency":"USD","to":{"account":"acct_1","memo":"x"}}""",
            """{ "amount" : 100 , "currency" : "USD" , "to" : { "account" : "acct_1" , "memo" : "x" } }""",
            """{"to":{"memo":"x","account":"acct_1"},"currency":"USD","amount":100}""",
            """{"amount":100,"currency":"\u0055SD","to":{"account":"acct_1","memo":"x"}}""",
        ];

        var forms = variants.Select(v =>
        {
            var output = new ArrayBufferWriter<byte>();
            Assert.True(RequestFingerprint.TryCanonicalize(Encoding.UTF8.GetBytes(v), output));
            return Encoding.UTF8.GetString(output.WrittenSpan);
        }).Distinct().ToList();

        Assert.Equal(["""{"amount":100,"currency":"USD","to":{"account":"acct_1","memo":"x"}}"""], forms);
    }

    private static string Generate(Random random, int depth, bool sorted, bool escapeSometimes)
    {
        var kind = depth > 3 ? random.Next(3) : random.Next(6);
        switch (kind)
        {
            case 0:
                return random.Next(4) switch { 0 => "-0", 1 => "1E+2", 2 => "3.14159", _ => random.Next(-1000, 1000).ToString(System.Globalization.CultureInfo.InvariantCulture) };
            case 1:
                // Half escaped as the default encoder does (\u00e9), half raw UTF-8 as the relaxed one leaves them.
                return JsonSerializer.Serialize(Strings[random.Next(Strings.Length)], random.Next(2) == 0 ? Escaped : Raw);
            case 2:
                return random.Next(3) switch { 0 => "true", 1 => "false", _ => "null" };
            case 3:
                return "[" + string.Join(random.Next(2) == 0 ? "," : " , ", Enumerable.Range(0, random.Next(4)).Select(_ => Generate(random, depth + 1, sorted, escapeSometimes))) + "]";
            default:
                var names = sorted
                    ? Enumerable.Range(0, random.Next(5)).Select(_ => "k" + random.Next(100)).Distinct().Order(StringComparer.Ordinal).ToList()
                    : Enumerable.Range(0, random.Next(7)).Select(_ => "k" + random.Next(8)).ToList();
                if (escapeSometimes && names.Count > 0 && random.Next(10) == 0)
                {
                    names[0] = "\\u006b" + names[0][1..];
                }

                var members = names.Select(n => "\"" + n + "\"" + (random.Next(2) == 0 ? ":" : " : ") + Generate(random, depth + 1, sorted, escapeSometimes));
                return "{" + string.Join(random.Next(2) == 0 ? "," : ",\n ", members) + "}";
        }
    }
}
