using System.Globalization;
using System.Text;

namespace Idem.Benchmarks;

/// <summary>The request bodies the benchmarks hash: one a payment API sees every call, one at the large end.</summary>
internal static class JsonBodies
{
    public const string Small = "small";
    public const string Large = "64KiB";

    // Members deliberately out of order, as clients send them, so canonicalisation has work to do.
    private const string SmallJson = """{"to":"acct_7Hq2","amount":1250,"currency":"EUR","reference":"invoice 2024-118","from":"acct_1Xc9"}""";

    public static byte[] Get(string name) => name switch
    {
        Small => Encoding.UTF8.GetBytes(SmallJson),
        Large => CreateLarge(64 * 1024),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, null),
    };

    /// <summary>An object holding an array of line items, padded to exactly <paramref name="size"/> bytes.</summary>
    private static byte[] CreateLarge(int size)
    {
        var json = new StringBuilder(size);
        json.Append("{\"lines\":[");
        const int Tail = 32; // room for the closing of the array and a "pad" member
        for (var i = 0; ; i++)
        {
            var item = string.Create(CultureInfo.InvariantCulture,
                $"{{\"sku\":\"SKU-{i:D6}\",\"qty\":{i % 7 + 1},\"price\":{i * 37 % 10_000},\"note\":\"line {i}\",\"tax\":{{\"rate\":0.2,\"code\":\"S\"}}}}");
            if (json.Length + item.Length + 1 + Tail > size)
            {
                break;
            }

            json.Append(i == 0 ? "" : ",").Append(item);
        }

        json.Append("],\"pad\":\"");
        json.Append('x', size - json.Length - 2);
        json.Append("\"}");
        var bytes = Encoding.UTF8.GetBytes(json.ToString());
        return bytes.Length == size ? bytes : throw new InvalidOperationException($"Body is {bytes.Length} bytes, not {size}.");
    }
}
