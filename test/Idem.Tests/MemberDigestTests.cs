using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Idem.Tests;

public sealed class MemberDigestTests
{
    private const string StoreKey = "tenant|1|POST|/v1/transfers|k-1";

    [Fact]
    public void Encode_ObjectBody_KeepsNamesAndHashesButNoValue()
    {
        var encoded = Encode("""{"amount":1250,"note":"zebra-crossing-7781","to":{"account":"acct_secret_42"}}""");

        Assert.True(MemberDigest.TryRead(encoded, out var members));
        Assert.Equal(["amount", "note", "to"], members.Keys.Order(StringComparer.Ordinal));
        var text = Encoding.UTF8.GetString(encoded);
        Assert.DoesNotContain("zebra", text, StringComparison.Ordinal);
        Assert.DoesNotContain("acct_secret_42", text, StringComparison.Ordinal);
        Assert.DoesNotContain("1250", text, StringComparison.Ordinal);
        Assert.Equal(1 + (3 * (2 + MemberDigest.HashLength)) + "amount".Length + "note".Length + "to".Length, encoded.Length);
    }

    [Fact]
    public void Compare_OneMemberChanged_NamesOnlyThatMember()
        => Assert.Equal(["amount"], Compare("""{"amount":300,"currency":"USD","to":"acc_2"}""", """{"amount":301,"currency":"USD","to":"acc_2"}"""));

    [Fact]
    public void Compare_SeveralChanged_NamesThemSortedOrdinal()
        => Assert.Equal(["B", "a", "b"], Compare("""{"b":1,"a":1,"B":1,"c":1}""", """{"c":1,"b":2,"a":2,"B":2}"""));

    [Fact]
    public void Compare_MemberOnlyInOne_NamesIt()
    {
        Assert.Equal(["memo"], Compare("""{"amount":1}""", """{"amount":1,"memo":"x"}"""));
        Assert.Equal(["memo"], Compare("""{"amount":1,"memo":"x"}""", """{"amount":1}"""));
        Assert.Equal(["a"], Compare("{}", """{"a":null}"""));
    }

    [Fact]
    public void Compare_ReorderedAndReformattedObject_NamesNothing()
        => Assert.Empty(Compare("""{"a":1,"b":[1,2],"c":{"y":1,"x":2}}""", """ { "c" : { "x" : 2, "y" : 1 }, "b" : [ 1, 2 ], "a" : 1 } """));

    [Fact]
    public void Compare_ChangeDeepInside_NamesTheTopLevelMember()
        => Assert.Equal(["to"], Compare("""{"to":{"account":"a","tags":["x",{"k":"v"}]},"amount":1}""", """{"to":{"account":"a","tags":["x",{"k":"w"}]},"amount":1}"""));

    [Fact]
    public void Compare_StringsWithStructuralCharacters_SplitAtTheRightPlaces()
        => Assert.Equal(["b"], Compare("""{"a":"x,}\"]{","b":"q\\","c":[",",{"}":"{"}]}""", """{"a":"x,}\"]{","b":"q\\\\","c":[",",{"}":"{"}]}"""));

    [Fact]
    public void Compare_EscapedNames_AreComparedAsTheClientMeantThem()
    {
        // Escaped names take the general path, plain ones the fast path: both give one digest for one object.
        Assert.Empty(Compare("""{"amount":1,"caf\u00e9":2}""", """{"caf\u00e9":2,"amount":1}"""));
        Assert.Empty(Compare("""{"amount":1,"b":2}""", """{"\u0061mount":1,"b":2}"""));
        Assert.Equal(["a\"b", "café"], Compare("""{"a\"b":1,"caf\u00e9":1}""", """{"a\"b":2,"café":2}"""));
    }

    [Fact]
    public void Compare_DuplicateNames_AreOneMember()
    {
        Assert.Equal(["a"], Compare("""{"a":1,"a":2,"b":1}""", """{"a":1,"a":3,"b":1}"""));
        Assert.Equal(["a"], Compare("""{"a":1,"a":2}""", """{"a":1}"""));
        Assert.Empty(Compare("""{"b":0,"a":1,"a":2}""", """{"a":1,"b":0,"a":2}"""));
    }

    [Fact]
    public void Compare_LargeBody_SplitsAsASmallOne()
    {
        // Past the gathered buffer (64 KiB): the canonical form is written to the thread's buffer, not the parts.
        var large = new string('x', 100_000);

        Assert.Equal(["large"], Compare($$"""{"large":"{{large}}","n":1}""", $$"""{"large":"{{large}}y","n":1}"""));
    }

    [Fact]
    public void Compare_ChosenMembers_DigestsOnlyThoseByPath()
    {
        string[] chosen = ["to.account", "amount"];
        var first = Encode("""{"amount":5,"to":{"account":"a","name":"Ann"},"note":"n"}""", chosen);

        Assert.True(MemberDigest.TryRead(first, out var members));
        Assert.Equal(["amount", "to.account"], members.Keys.Order(StringComparer.Ordinal));
        Assert.True(MemberDigest.TryCompare(first, Encode("""{"amount":5,"to":{"account":"a","name":"Bob"},"note":"m"}""", chosen), out var fields));
        Assert.Empty(fields);
        Assert.True(MemberDigest.TryCompare(first, Encode("""{"amount":5,"to":{"account":"b"}}""", chosen), out fields));
        Assert.Equal(["to.account"], fields);
        Assert.True(MemberDigest.TryCompare(first, Encode("""{"to":{"account":"a"}}""", chosen), out fields));
        Assert.Equal(["amount"], fields);
    }

    [Theory]
    [InlineData("[1,2]", true)]
    [InlineData("\"text\"", true)]
    [InlineData("42", true)]
    [InlineData("{not json", true)]
    [InlineData("{\"a\":1}", false)]
    public void MemberDigest_BodyThatIsNotAJsonObject_IsNull(string body, bool isJson)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.AddBody(Encoding.UTF8.GetBytes(body), isJson);

        Assert.Null(fingerprint.MemberDigest);
    }

    [Fact]
    public void MemberDigest_ChosenMembersOfANonObject_IsNull()
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.AddBody("[1]"u8, isJson: true, ["a"]);

        Assert.Null(fingerprint.MemberDigest);
    }

    [Fact]
    public void Encode_OneValueUnderTwoKeysOrTwoNames_HashesDiffer()
    {
        Assert.True(MemberDigest.TryRead(Encode("""{"from":"acc_1","to":"acc_1"}"""), out var one));
        Assert.True(MemberDigest.TryRead(Digest("""{"from":"acc_1","to":"acc_1"}""").Encode("tenant|1|POST|/v1/transfers|k-2").ToArray(), out var other));

        Assert.NotEqual(one["from"], one["to"]);
        Assert.NotEqual(one["from"], other["from"]);
    }

    [Fact]
    public void Encode_LongerThanTheLimit_IsEmptyAndComparesAsUnknown()
    {
        var names = string.Join(",", Enumerable.Range(0, 400).Select(i => $"\"member_with_a_long_name_{i:0000}\":{i}"));
        var encoded = Encode("{" + names + "}");

        Assert.Empty(encoded);
        Assert.False(MemberDigest.TryCompare(encoded, Encode("""{"a":1}"""), out var fields));
        Assert.Empty(fields);
    }

    [Fact]
    public void Encode_SecondCall_ReturnsTheSameBytes()
    {
        var digest = Digest("""{"a":1}""");

        Assert.True(digest.IsPending(StoreKey));
        var first = digest.Encode(StoreKey);
        Assert.False(digest.IsPending(StoreKey));

        Assert.True(first.Equals(digest.Encode(StoreKey)));
        Assert.True(digest.IsPending("other"));
    }

    [Theory]
    [InlineData(new byte[0])]
    [InlineData(new byte[] { 2 })]
    [InlineData(new byte[] { 1, 5, 0, (byte)'a' })]
    [InlineData(new byte[] { 1, 1 })]
    public void TryCompare_EmptyTruncatedOrOtherVersion_IsUnknown(byte[] stored)
    {
        Assert.False(MemberDigest.TryCompare(stored, Encode("""{"a":1}"""), out var fields));
        Assert.Empty(fields);
    }

    [Fact]
    public void TryCompare_EmptyObjects_AreKnownAndEqual()
    {
        Assert.True(MemberDigest.TryCompare(Encode("{}"), Encode(" { } "), out var fields));
        Assert.Empty(fields);
    }

    [Fact]
    public void Create_ObjectInput_CarriesADigestAndScalarInputNone()
    {
        Assert.NotNull(IdempotentOperation.Create("refunds.create", "k-1", new { amount = 500 }).MemberDigest);
        Assert.Null(IdempotentOperation.Create("statements.send", "k-1", "march").MemberDigest);
        Assert.Null(IdempotentOperation.Create("statements.send", "k-1").MemberDigest);
    }

    [Fact]
    public void Create_OtherInput_ComparesByMember()
    {
        var first = IdempotentOperation.Create("refunds.create", "k-1", new { amount = 500, currency = "EUR" });
        var second = IdempotentOperation.Create("refunds.create", "k-1", new { amount = 900, currency = "EUR" });

        Assert.True(second.TryCompareMembers(first.MemberDigest!.Encode(first.StoreKey), out var fields));
        Assert.Equal(["amount"], fields);
    }

    [Theory]
    [InlineData("""{"amount":1250,"currency":"EUR","id":42,"to":"acct_7Hq2"}""")]
    [InlineData("""{"z":{"b":[1,2.50,"caf\u00e9",{"y":null,"x":true}],"a":{}},"a":[],"m":"\"}{][,:"}""")]
    [InlineData("""{"\u0041":1,"é":"\ud83d\ude00","a b":-0.0e+1,"":false}""")]
    [InlineData(""" { "nested" : { "deep" : [ [ [ { "k" : "v" } ] ] ] } , "n" : 1e400 } """)]
    public void Encode_AnyObject_HashesEachTopLevelMemberAsItsOwnCanonicalForm(string json)
    {
        // The reference: every member of the parsed object, canonicalised on its own, hashed as documented.
        using var document = JsonDocument.Parse(json);
        var expected = new Dictionary<string, ulong>(StringComparer.Ordinal);
        foreach (var member in document.RootElement.EnumerateObject())
        {
            var canonical = new ArrayBufferWriter<byte>();
            Assert.True(RequestFingerprint.TryCanonicalize(Encoding.UTF8.GetBytes(member.Value.GetRawText()), canonical));
            var key = Encoding.UTF8.GetBytes(StoreKey);
            var name = Encoding.UTF8.GetBytes(member.Name);
            var input = new byte[12 + key.Length + name.Length + canonical.WrittenCount];
            BinaryPrimitives.WriteInt32LittleEndian(input, key.Length);
            key.CopyTo(input, 4);
            BinaryPrimitives.WriteInt32LittleEndian(input.AsSpan(4 + key.Length), name.Length);
            name.CopyTo(input, 8 + key.Length);
            BinaryPrimitives.WriteInt32LittleEndian(input.AsSpan(8 + key.Length + name.Length), canonical.WrittenCount);
            canonical.WrittenSpan.CopyTo(input.AsSpan(12 + key.Length + name.Length));
            var seed = (long)XxHash3.HashToUInt64(input.AsSpan(0, 4 + key.Length));
            expected[member.Name] = BinaryPrimitives.ReadUInt64LittleEndian(XxHash3.Hash(input.AsSpan(4 + key.Length), seed));
        }

        Assert.True(MemberDigest.TryRead(Encode(json), out var members));
        Assert.Equal(expected.OrderBy(m => m.Key, StringComparer.Ordinal), members.OrderBy(m => m.Key, StringComparer.Ordinal));
    }

    private static string[] Compare(string stored, string current)
    {
        Assert.True(MemberDigest.TryCompare(Encode(stored), Encode(current), out var fields));
        return fields;
    }

    private static byte[] Encode(string json, IReadOnlyList<string>? members = null) => Digest(json, members).Encode(StoreKey).ToArray();

    private static MemberDigest Digest(string json, IReadOnlyList<string>? members = null)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.AddBody(Encoding.UTF8.GetBytes(json), isJson: true, members);
        return fingerprint.MemberDigest ?? throw new InvalidOperationException("No member digest for " + json);
    }
}
