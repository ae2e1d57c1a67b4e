using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Web;

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
        Assert.Contains("kept for 86400 seconds", header.GetProperty("description").GetString(), StringComparison.Ordinal);

        var responses = post.GetProperty("responses");
        foreach (var status in new[] { "400", "409", "422", "503" })
        {
            Assert.True(responses.TryGetProperty(status, out _), $"POST {path} does not document {status}.");
        }

        Assert.Contains("urn:idem:problem:idempotency-key-mismatch", responses.GetProperty("422").GetProperty("description").GetString());
        Assert.Contains("`fields`", responses.GetProperty("422").GetProperty("description").GetString(), StringComparison.Ordinal);
        var success = responses.EnumerateObject().Where(r => r.Name.StartsWith('2')).ToList();
        Assert.NotEmpty(success);
        Assert.All(success, r => Assert.True(r.Value.GetProperty("headers").TryGetProperty("Idempotency-Retention", out _), $"POST {path} {r.Name} does not document Idempotency-Retention."));
    }

    [Theory]
    [InlineData("/v1/customers/{id}", "put", "400")]
    [InlineData("/v1/customers/{id}", "get", "404")]
    [InlineData("/v1/customers/{id}", "delete", "404")]
    [InlineData("/v1/accounts/{id}", "patch", "400,404,412,428")]
    [InlineData("/v1/idempotency-keys/{key}", "get", "400,404")]
    public async Task OpenApiDocument_NewEndpoints_DocumentTheirProblems(string path, string method, string statuses)
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var responses = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method).GetProperty("responses");
        foreach (var status in statuses.Split(','))
        {
            Assert.True(responses.TryGetProperty(status, out var problem), $"{method} {path} does not document {status}.");
            Assert.True(problem.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{method} {path} {status} is not problem+json.");
        }
    }

    [Fact]
    public async Task OpenApiDocument_PatchAccount_DescribesItsBodyAndIfMatch()
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var body = document.RootElement.GetProperty("paths").GetProperty("/v1/accounts/{id}").GetProperty("patch")
            .GetProperty("requestBody").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        Assert.EndsWith("/UpdateAccountRequest", body.GetProperty("$ref").GetString(), StringComparison.Ordinal);
        var schema = document.RootElement.GetProperty("components").GetProperty("schemas").GetProperty("UpdateAccountRequest").GetProperty("properties");
        Assert.True(schema.TryGetProperty("nickname", out _));
        Assert.True(schema.TryGetProperty("metadata", out _));
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

    [Theory]
    [InlineData("/v1/payments", "post", "400,402,404,422,503")]
    [InlineData("/v1/payments/{id}/refunds", "post", "400,404,422,503")]
    [InlineData("/v1/payments/{id}", "get", "404")]
    [InlineData("/v1/payments/{id}/refunds", "get", "404")]
    [InlineData("/v1/holds", "post", "400,404,415,422,503")]
    [InlineData("/v1/holds/{id}", "get", "404")]
    [InlineData("/v1/holds/{id}/capture", "post", "400,404,409,422,503", "200")]
    [InlineData("/v1/holds/{id}/void", "post", "404,409,503", "200")]
    [InlineData("/v1/accounts/{id}", "get", "400,404")]
    [InlineData("/v1/accounts/{id}/entries", "get", "400,404")]
    public async Task OpenApiDocument_PaymentEndpoints_DocumentTheirProblems(string path, string method, string statuses, string? success = null)
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var operation = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty(method);
        var responses = operation.GetProperty("responses");
        foreach (var status in statuses.Split(','))
        {
            Assert.True(responses.TryGetProperty(status, out var problem), $"{method} {path} does not document {status}.");
            Assert.True(problem.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{method} {path} {status} is not problem+json.");
        }

        var answer = responses.GetProperty(success ?? (method == "post" ? "201" : "200")).GetProperty("content").GetProperty("application/json");
        Assert.True(answer.TryGetProperty("schema", out _), $"{method} {path} does not describe its answer.");
        var names = operation.TryGetProperty("parameters", out var parameters) ? parameters.EnumerateArray().Select(p => p.GetProperty("name").GetString()).ToList() : [];
        if (method == "post")
        {
            Assert.Contains("Idempotency-Key", names);
        }
        else
        {
            Assert.DoesNotContain("Idempotency-Key", names);
        }
    }

    [Fact]
    public async Task OpenApiDocument_Audit_IsDocumented()
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var get = document.RootElement.GetProperty("paths").GetProperty("/v1/ledger/audit").GetProperty("get");
        Assert.True(get.GetProperty("responses").GetProperty("200").GetProperty("content").TryGetProperty("application/json", out _));
    }

    [Fact]
    public async Task ApiReference_Page_ServedAnonymouslyWithEveryScriptFromTheServiceItself()
    {
        var pageAddress = new Uri(server.BaseAddress, "/scalar/");
        using var page = await server.Http.GetAsync(pageAddress);
        var html = await page.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        Assert.Contains("\"openapi/v1.json\"", html, StringComparison.Ordinal);
        Assert.DoesNotContain("fonts.scalar.com", html, StringComparison.Ordinal);
        var scripts = System.Text.RegularExpressions.Regex.Matches(html, "<script[^>]*src=\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("scalar.js", scripts);
        foreach (var script in scripts)
        {
            var address = new Uri(pageAddress, script);
            Assert.Equal(server.BaseAddress.Authority, address.Authority);
            using var asset = await server.Http.GetAsync(address);
            Assert.True(asset.StatusCode == HttpStatusCode.OK, $"{address}: {(int)asset.StatusCode}");
            Assert.Equal("text/javascript", asset.Content.Headers.ContentType?.MediaType);
        }
    }

    [Fact]
    public async Task ApiReference_WithoutTrailingSlash_RedirectsToThePage()
    {
        using var http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = server.BaseAddress };

        using var response = await http.GetAsync("/scalar");

        Assert.Equal(HttpStatusCode.Found, response.StatusCode);
        Assert.Equal("scalar/", response.Headers.Location?.OriginalString);
    }

    [Theory]
    [InlineData("/v1/payments/{id}/capture", "400,404,409,422,503")]
    [InlineData("/v1/payments/{id}/cancel", "404,409,422,503")]
    public async Task OpenApiDocument_CaptureAndCancel_DocumentTheirAnswerProblemsAndKey(string path, string statuses)
    {
        using var response = await server.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        var post = document.RootElement.GetProperty("paths").GetProperty(path).GetProperty("post");
        Assert.False(string.IsNullOrEmpty(post.GetProperty("summary").GetString()));
        var responses = post.GetProperty("responses");
        var payment = responses.GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema");
        Assert.EndsWith("/PaymentResponse", payment.GetProperty("$ref").GetString(), StringComparison.Ordinal);
        foreach (var status in statuses.Split(','))
        {
            Assert.True(responses.TryGetProperty(status, out var problem), $"POST {path} does not document {status}.");
            Assert.True(problem.GetProperty("content").TryGetProperty("application/problem+json", out _), $"POST {path} {status} is not problem+json.");
        }

        Assert.Contains("Idempotency-Key", post.GetProperty("parameters").EnumerateArray().Select(p => p.GetProperty("name").GetString()));
    }
}
