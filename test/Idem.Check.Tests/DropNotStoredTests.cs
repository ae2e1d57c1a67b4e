using System.Net;

namespace Idem.Check.Tests;

/// <summary>How drop-not-stored judges the retry of an answer broken off mid-response, against answers made up for it.</summary>
public sealed class DropNotStoredTests
{
    /// <summary>Breaks off every request that carries X-Drop; answers the others with <paramref name="retry"/>'s status and headers.</summary>
    private sealed class Dropping(int retry, string? header = null) : HttpMessageHandler
    {
        public int Retries { get; private set; }

        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            if (request.Headers.Contains("X-Drop"))
            {
                throw new HttpRequestException("An error occurred while sending the request.", new IOException("The response ended prematurely."));
            }

            Retries++;
            var response = new HttpResponseMessage((HttpStatusCode)retry) { Content = new ByteArrayContent("{}"u8.ToArray()), RequestMessage = request };
            if (header is not null)
            {
                response.Headers.TryAddWithoutValidation(header.Split(':')[0], header.Split(':')[1].Trim());
            }

            return Task.FromResult(response);
        }
    }

    private static async Task<(CheckResult Result, int Retries)> RunAsync(int retry, string? header = null)
    {
        using var handler = new Dropping(retry, header);
        var target = new Target { Url = "http://api.test/orders", Body = "{}", DropHeaders = new() { ["X-Drop"] = "1" } };
        using var runner = new CheckRunner(target, handler, only: ["drop-not-stored"]);
        var report = await runner.RunAsync();
        return (Assert.Single(report.Results), handler.Retries);
    }

    [Fact]
    public async Task Run_RetryRunsAgain_Passes()
    {
        var (result, retries) = await RunAsync(201);

        Assert.Equal(Outcome.Pass, result.Outcome);
        Assert.Contains("first broken off (The response ended prematurely.); retry without the drop headers 201", result.Detail, StringComparison.Ordinal);
        Assert.Equal(1, retries);
    }

    [Fact]
    public async Task Run_KeyStillHeldForTheBrokenRequest_PassesAfterAFewRetries()
    {
        var (result, retries) = await RunAsync(409, "Retry-After: 0");

        Assert.Equal(Outcome.Pass, result.Outcome);
        Assert.Contains("409 after 3x 409", result.Detail, StringComparison.Ordinal);
        Assert.Equal(4, retries);
    }

    [Theory]
    [InlineData(201, "Idempotent-Replayed: true", "(replayed)")]
    [InlineData(500, null, "retry without the drop headers 500")]
    [InlineData(400, null, "retry without the drop headers 400")]
    public async Task Run_BrokenAnswerStored_Fails(int status, string? header, string detail)
    {
        var (result, _) = await RunAsync(status, header);

        Assert.Equal(Outcome.Fail, result.Outcome);
        Assert.Contains(detail, result.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_AnswerComesWhole_IsSkippedSayingSo()
    {
        using var handler = new Dropping(201);
        var target = new Target { Url = "http://api.test/orders", Body = "{}", DropHeaders = new() { ["X-Other"] = "1" } };
        using var runner = new CheckRunner(target, handler, only: ["drop-not-stored"]);

        var result = Assert.Single((await runner.RunAsync()).Results);

        Assert.Equal(Outcome.Skip, result.Outcome);
        Assert.Contains("did not break off the answer (answered 201)", result.Detail, StringComparison.Ordinal);
    }
}
