namespace Idem.Tests;

public sealed class StoreKeyTests
{
    [Fact]
    public void Create_SameParts_GiveTheSameKey()
        => Assert.Equal(StoreKey.Create("alice", "POST", "/v1/transfers", "k1"), StoreKey.Create("alice", "POST", "/v1/transfers", "k1"));

    [Fact]
    public void Create_MethodCase_DoesNotMatter()
        => Assert.Equal(StoreKey.Create("alice", "post", "/v1/transfers", "k1"), StoreKey.Create("alice", "POST", "/v1/transfers", "k1"));

    [Theory]
    [InlineData("bob", "POST", "/v1/transfers", "k1")]
    [InlineData("alice", "PATCH", "/v1/transfers", "k1")]
    [InlineData("alice", "POST", "/v1/payments", "k1")]
    [InlineData("alice", "POST", "/v1/transfers", "k2")]
    public void Create_AnyPartDiffers_GivesADifferentKey(string scope, string method, string route, string key)
        => Assert.NotEqual(StoreKey.Create("alice", "POST", "/v1/transfers", "k1"), StoreKey.Create(scope, method, route, key));

    public static TheoryData<string[], string[]> CollidingCandidates => new()
    {
        // Separators moved between scope and the rest.
        { ["a|POST", "POST", "/r", "k"], ["a", "POST", "POST|/r", "k"] },
        { ["a|POST|/r", "POST", "/r", "k"], ["a", "POST", "/r", "POST|/r|k"] },
        // Separators moved between route and key.
        { ["s", "POST", "/r|x", "k"], ["s", "POST", "/r", "x|k"] },
        { ["s", "POST", "/r", "1:x|k"], ["s", "POST", "/r|1:x", "k"] },
        // Length prefixes forged inside the scope.
        { ["1:a|POST", "POST", "/r", "k"], ["1", "POST", "a|POST|/r", "k"] },
        { ["", "POST", "/r", "k"], ["0:", "POST", "/r", "k"] },
        { ["s:", "POST", "/r", "k"], ["s", "POST", ":/r", "k"] },
        // A method that contains the separator (a valid HTTP token character).
        { ["s", "P", "AB", "0:|z"], ["s", "P|2:AB", "", "z"] },
        { ["s", "P", "/r", "k"], ["s", "P|3:/r", "", "k"] },
    };

    [Theory]
    [MemberData(nameof(CollidingCandidates))]
    public void Create_PartsContainingSeparators_NeverCollide(string[] left, string[] right)
        => Assert.NotEqual(StoreKey.Create(left[0], left[1], left[2], left[3]), StoreKey.Create(right[0], right[1], right[2], right[3]));

    [Fact]
    public void Create_ManyAwkwardCombinations_AreAllDistinct()
    {
        string[] parts = ["", "a", "|", "a|b", "1:", "1:a", "|1:a|", ":", "||", "0:|"];
        var keys = new HashSet<string>(StringComparer.Ordinal);
        var count = 0;
        foreach (var scope in parts)
        {
            foreach (var route in parts)
            {
                foreach (var key in parts.Where(p => p.Length > 0))
                {
                    count++;
                    Assert.True(keys.Add(StoreKey.Create(scope, "POST", route, key)), $"Collision for ({scope}, {route}, {key}).");
                }
            }
        }

        Assert.Equal(count, keys.Count);
    }

    [Fact]
    public void Create_EmptyKey_Throws()
        => Assert.Throws<ArgumentException>(() => StoreKey.Create("s", "POST", "/r", ""));

    [Fact]
    public void Create_NullScope_Throws()
        => Assert.Throws<ArgumentNullException>(() => StoreKey.Create(null!, "POST", "/r", "k"));
}
