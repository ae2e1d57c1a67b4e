using System.Text;
using Xunit;

namespace Idem.Tests;

/// <summary>
/// Fingerprints are stored with records, so a new version must compute the same digest for the same request: a change
/// here would turn every retry across an upgrade into a 422. These digests pin the format.
/// </summary>
public sealed class FingerprintStabilityTests
{
    public static TheoryData<string, string> Pinned => new()
    {
        { "small-json", "a1d6181f1d4597bc912cc843ae4e1d17bf8684c5e2445a2d371c90705288b457" },
        { "unsorted-json", "ae96956f0752757ae14700e82d16593c61025817cf28c6959fc46c59956b8443" },
        { "members", "4460ac927b07c0b7d799a978d23d2de2533cf4e50e6bcf4d9f7be7c554e25a42" },
        { "raw-100k", "c1b9871a81fd044dca4477ac8579e81db7b9936ca4e80fc99427eb41d72801f6" },
        { "json-200k", "6d1527d74dc3377442310091e5c0f284a3dba558b6d3ee227180350e95b31286" },
    };

    [Theory]
    [MemberData(nameof(Pinned))]
    public void Finish_KnownRequest_GivesPinnedDigest(string name, string expected)
    {
        Assert.Equal(expected, Compute(name));
    }

    internal static string Compute(string name)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", "POST");
        fingerprint.Add("route", "/v1/transfers/{id}");
        fingerprint.Add("route-value:id", "tr_1");
        fingerprint.Add("query:expand", "ledger");
        fingerprint.Add("content-type", name.StartsWith("raw", StringComparison.Ordinal) ? "application/octet-stream" : "application/json");
        switch (name)
        {
            case "small-json":
                fingerprint.AddBody("""{"amount":2500,"currency":"USD","from_account":"acct_1","to_account":"acct_2"}"""u8, isJson: true);
                break;
            case "unsorted-json":
                fingerprint.AddBody("""{ "to_account": "acct_2", "amount": 2500, "meta": {"z": [1, 2.50, "caf\u00e9"], "a": null} }"""u8, isJson: true);
                break;
            case "members":
                fingerprint.AddBody("""{"amount":2500,"note":"ignored","to":{"account":"acct_2"}}"""u8, isJson: true, ["to.account", "amount", "absent"]);
                break;
            case "raw-100k":
                fingerprint.AddBody(Enumerable.Range(0, 100_000).Select(i => (byte)(i * 31)).ToArray(), isJson: false);
                break;
            default:
                var json = new StringBuilder("{\"items\":[");
                for (var i = 0; i < 5000; i++)
                {
                    json.Append(i == 0 ? "" : ",").Append("{\"qty\":").Append(i).Append(",\"sku\":\"sku-").Append(i).Append("\"}");
                }

                fingerprint.AddBody(Encoding.UTF8.GetBytes(json.Append("]}").ToString()), isJson: true);
                break;
        }

        return fingerprint.Finish();
    }
}
