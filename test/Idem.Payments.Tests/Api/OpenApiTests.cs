using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Api;

public abstract class OpenApiTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : OpenApiTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : OpenApiTests(server);

    [Theory]
    [InlineData("/v1/accounts")]
    [InlineData("/v1/accounts/{id}/deposits")]
    [InlineData("/v1/transfers")]
    public async Task OpenApiDocument_ProtectedPost_DocumentsKeyHeaderAndProblems(string path)
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var post = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty("post");
        var header = post.GetProperty("parameters").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "Idempotency-Key");
        Assert.Equal("header", header.GetProperty("in").GetString());
        Assert.True(header.GetProperty("required").GetBoolean());
        Assert.Equal(255, header.GetProperty("schema").GetProperty("maxLength").GetInt32());

        var responses = post.GetProperty("responses");
        foreach (var status in new[] { "400", "409", "422", "503" })
        {
            Assert.True(responses.TryGetProperty(status, out _), $"POST {path} does not document {status}.");
        }

        Assert.Contains("urn:idem:problem:idempotency-key-mismatch", responses.GetProperty("422").GetProperty("description").GetString());
    }

    [Fact]
    public async Task OpenApiDocument_Get_HasNoKeyHeader()
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var get = document.RootElement.GetProperty("paths").GetProperty("/v1/transfers/{id}").GetProperty("get");
        var names = get.TryGetProperty("parameters", out var parameters)
            ? parameters.EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList()
            : [];
        Assert.DoesNotContain("Idempotency-Key", names);
    }
}
