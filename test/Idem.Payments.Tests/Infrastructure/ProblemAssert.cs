using System.Net;
using System.Text.Json;
using Xunit;

namespace Idem.Payments.Tests.Infrastructure;

public static class ProblemAssert
{
    /// <summary>Asserts an RFC 9457 problem+json with this status and (when given) this type, and a 503's <c>Retry-After</c> in seconds; returns the body.</summary>
    public static async Task<JsonElement> IsProblemAsync(HttpResponseMessage response, HttpStatusCode status, string? type = null)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == status, $"Expected {(int)status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(body).RootElement.Clone();
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrEmpty(problem.GetProperty("title").GetString()));
        if (type is not null)
        {
            Assert.Equal(type, problem.GetProperty("type").GetString());
        }

        // Every 503 the service writes says when to come back (BEHAVIOUR.md §4).
        if (status == HttpStatusCode.ServiceUnavailable)
        {
            var retryAfter = response.Headers.RetryAfter;
            Assert.True(retryAfter?.Delta is { } delta && delta > TimeSpan.Zero, $"A 503 without Retry-After (seconds): '{retryAfter}'. {body}");
        }

        return problem;
    }
}
