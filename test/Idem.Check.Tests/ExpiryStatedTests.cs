using System.Net;

namespace Idem.Check.Tests;

/// <summary>How expiry-stated reads what an answer says about its key's expiry, against answers made up for it.</summary>
public sealed class ExpiryStatedTests
{
    private static readonly DateTimeOffset Sent = new(2026, 12, 5, 10, 0, 0, TimeSpan.Zero);

    /// <summary>Answers every request 201 with the given headers and a Date of <see cref="Sent"/>.</summary>
    private sealed class Answering(Dictionary<string, string> headers) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = new HttpResponseMessage(HttpStatusCode.Created) { Content = new ByteArrayContent([]), RequestMessage = request };
            response.Headers.Date = Sent;
            foreach (var (name, value) in headers)
            {
                response.Headers.TryAddWithoutValidation(name, value);
            }

            return Task.FromResult(response);
        }
    }

    private static async Task<CheckResult> RunAsync(string? header, string? value, string? expiryHeader = null)
    {
        var headers = header is null ? new Dictionary<string, string>() : new Dictionary<string, string> { [header] = value! };
        using var handler = new Answering(headers);
        using var runner = new CheckRunner(new Target { Url = "http://api.test/orders", Body = "{}", ExpiryHeader = expiryHeader }, handler, only: ["expiry-stated"]);
        var report = await runner.RunAsync();
        return Assert.Single(report.Results);
    }

    [Theory]
    [InlineData("Idempotency-Retention", "86400", "(86400 s)")]
    [InlineData("Idempotency-Expires", "Sun, 06 Dec 2026 10:00:00 GMT", "(86400 s)")]
    [InlineData("Idempotency-Key-Expiry", "2026-12-05T11:00:00Z", "(3600 s)")]
    [InlineData("X-Idempotency-TTL", "60", "(60 s)")]
    public async Task Run_ExpiryHeader_PassesWithTheLifetime(string header, string value, string lifetime)
    {
        var result = await RunAsync(header, value);

        Assert.Equal(Outcome.Pass, result.Outcome);
        Assert.Contains($"{header}: {value} {lifetime}", result.Detail, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Idempotency-Expires", "Fri, 04 Dec 2026 10:00:00 GMT", "a date still to come")]
    [InlineData("Idempotency-Retention", "a day", "not seconds")]
    [InlineData("Idempotent-Settled", "86400", "no header")]
    [InlineData(null, null, "no header on the first answer or the replay")]
    public async Task Run_NoUsableExpiryHeader_Fails(string? header, string? value, string why)
    {
        var result = await RunAsync(header, value);

        Assert.Equal(Outcome.Fail, result.Outcome);
        Assert.Contains(why, result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_ExpiryHeaderNamedByTheTarget_IsTheOneRead()
    {
        var named = await RunAsync("X-Key-Lifetime", "3600", expiryHeader: "x-key-lifetime");
        var unnamed = await RunAsync("X-Key-Lifetime", "3600");

        Assert.Equal(Outcome.Pass, named.Outcome);
        Assert.Equal(Outcome.Fail, unnamed.Outcome);
    }
}
