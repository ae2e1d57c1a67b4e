using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Idem.Payments.Tests.Infrastructure;
using Microsoft.AspNetCore.Routing;
using Xunit;

namespace Idem.Payments.Tests.Web;

/// <summary>
/// Text that is not Unicode (invalid UTF-8 bytes, or an escaped lone surrogate) in any string of any JSON body is a 400
/// malformed-request problem and changes nothing, on every endpoint that takes a body: never a 500, never a write.
/// </summary>
public abstract class InvalidTextTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : InvalidTextTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : InvalidTextTests(server);

    private const string Malformed = "urn:idem:payments:problem:malformed-request";

    // Where the bad text goes in a body: "§" is replaced by a string holding it.
    private const string Here = "§";

    /// <summary>Not Unicode, each as the bytes sent inside a JSON string.</summary>
    public static readonly (string Name, byte[] Bytes)[] BadText =
    [
        ("invalid UTF-8 C3 28", [0xC3, 0x28]),
        ("invalid UTF-8 FF", [0xFF]),
        ("lone high surrogate escape", "\\ud800"u8.ToArray()),
        ("lone low surrogate escape", "\\udc00"u8.ToArray()),
        ("overlong UTF-8 C0 AF", [0xC0, 0xAF]),
        ("overlong UTF-8 E0 80 AF", [0xE0, 0x80, 0xAF]),
    ];

    /// <summary>
    /// Every endpoint that takes a JSON body (method, route template as routed), and every string of its body: each member
    /// value that is a string, metadata keys and values, and a member name (the only string a body of numbers has).
    /// Placeholders: {usd} an account, {customer} a customer, {payment} a succeeded payment, {hold} a pending hold.
    /// </summary>
    public static readonly (string Method, string Route, string Path, string[] Bodies)[] Endpoints =
    [
        ("POST", "/v1/accounts", "/v1/accounts", ["""{"currency":"§"}""", """{"§":"USD"}"""]),
        ("PATCH", "/v1/accounts/{id}", "/v1/accounts/{usd}",
            ["""{"nickname":"§"}""", """{"metadata":{"§":"v"}}""", """{"metadata":{"k":"§"}}""", """{"nickname":"n","metadata":{"k":"v","§":"w"}}""", """{"§":"n"}"""]),
        ("POST", "/v1/accounts/{id}/deposits", "/v1/accounts/{usd}/deposits", ["""{"amount":1,"§":1}"""]),
        ("PUT", "/v1/customers/{id}", "/v1/customers/{customer}",
            ["""{"name":"§"}""", """{"name":"Ada","email":"§"}""", """{"name":"Ada","metadata":{"§":"v"}}""", """{"name":"Ada","metadata":{"k":"§"}}""", """{"name":"Ada","§":1}"""]),
        ("POST", "/v1/transfers", "/v1/transfers",
            [
                """{"from_account":"§","to_account":"{usd2}","amount":1,"currency":"USD"}""",
                """{"from_account":"{usd}","to_account":"§","amount":1,"currency":"USD"}""",
                """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"§"}""",
                """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"USD","§":1}""",
            ]),
        ("POST", "/v1/payments", "/v1/payments",
            [
                """{"amount":1,"currency":"§","source":"tok_visa","account":"{usd}"}""",
                """{"amount":1,"currency":"USD","source":"§","account":"{usd}"}""",
                """{"amount":1,"currency":"USD","source":"tok_visa","account":"§"}""",
                """{"amount":1,"currency":"USD","source":"tok_visa","account":"{usd}","§":1}""",
            ]),
        ("POST", "/v1/payments/{id}/refunds", "/v1/payments/{payment}/refunds", ["""{"amount":1,"§":1}"""]),
        ("POST", "/v1/holds", "/v1/holds",
            [
                """{"from_account":"§","to_account":"{usd2}","amount":1,"currency":"USD"}""",
                """{"from_account":"{usd}","to_account":"§","amount":1,"currency":"USD"}""",
                """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"§"}""",
                """{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"USD","§":1}""",
            ]),
        ("POST", "/v1/holds/{id}/capture", "/v1/holds/{hold}/capture", ["""{"amount":1,"§":1}"""]),

        // Takes no body: whatever is sent is not read, so there is no string to spoil.
        ("POST", "/v1/holds/{id}/void", "/v1/holds/{hold}/void", []),
        ("POST", "/v1/batches", "/v1/batches",
            [
                """{"transfers":[{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"USD"},{"from_account":"§","to_account":"{usd2}","amount":1,"currency":"USD"}]}""",
                """{"transfers":[{"from_account":"{usd}","to_account":"§","amount":1,"currency":"USD"}]}""",
                """{"transfers":[{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"§"}]}""",
                """{"transfers":[{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"USD","§":1}]}""",
                """{"transfers":[{"from_account":"{usd}","to_account":"{usd2}","amount":1,"currency":"USD"}],"§":1}""",
            ]),
        ("POST", "/v1/payments/{id}/capture", "/v1/payments/{payment}/capture", ["""{"amount":1,"§":1}"""]),
        ("POST", "/v1/payments/{id}/cancel", "/v1/payments/{payment}/cancel", ["""{"§":1}"""]),
    ];

    public static TheoryData<string, string, string> Cases()
    {
        var cases = new TheoryData<string, string, string>();
        foreach (var (method, _, path, bodies) in Endpoints)
        {
            foreach (var body in bodies)
            {
                cases.Add(method, path, body);
            }
        }

        return cases;
    }

    [Fact]
    public void Endpoints_CoverEveryEndpointThatTakesABody()
    {
        var routed = server.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? []).Select(m => $"{m} {e.RoutePattern.RawText?.TrimEnd('/')}"))
            .Where(e => e.StartsWith("POST ", StringComparison.Ordinal) || e.StartsWith("PUT ", StringComparison.Ordinal) || e.StartsWith("PATCH ", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal);

        Assert.Equal(routed, Endpoints.Select(e => $"{e.Method} {e.Route}").Order(StringComparer.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Send_StringThatIsNotUnicode_ReturnsMalformedProblemAndChangesNothing(string method, string path, string body)
    {
        var tenant = server.NewTenant();
        var usd = await tenant.CreateAccountIdAsync("USD");
        var usd2 = await tenant.CreateAccountIdAsync("USD");
        await tenant.DepositAsync(usd, 1_000);
        var payment = (await tenant.PaySucceededAsync(usd, 500)).GetProperty("id").GetString()!;
        var hold = (await Holds.HoldEndpointsTests.CreateHoldAsync(tenant, usd, usd2, 100)).GetProperty("id").GetString()!;
        const string Customer = "cus_text";
        using (var put = await SendAsync(tenant, "PUT", $"/v1/customers/{Customer}", Encoding.UTF8.GetBytes("""{"name":"Ada","metadata":{"k":"v"}}"""), ifMatch: null))
        {
            Assert.Equal(HttpStatusCode.Created, put.StatusCode);
        }

        string Fill(string text) => text.Replace("{usd}", usd, StringComparison.Ordinal).Replace("{usd2}", usd2, StringComparison.Ordinal)
            .Replace("{customer}", Customer, StringComparison.Ordinal).Replace("{payment}", payment, StringComparison.Ordinal).Replace("{hold}", hold, StringComparison.Ordinal);
        var before = await ReadStateAsync(tenant, usd, Customer, payment);
        string etag;
        using (var read = await tenant.GetAsync($"/v1/accounts/{usd}"))
        {
            etag = read.Headers.ETag!.ToString();
        }

        var failures = new List<string>();
        foreach (var (name, bytes) in BadText)
        {
            var sent = WithBadText(Fill(body), bytes);
            using var response = await SendAsync(tenant, method, Fill(path), sent, etag);

            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.BadRequest || response.Content.Headers.ContentType?.MediaType != "application/problem+json"
                || !text.Contains(Malformed, StringComparison.Ordinal))
            {
                failures.Add($"{name}: {(int)response.StatusCode} {response.Content.Headers.ContentType} {text}");
            }

            if (await ReadStateAsync(tenant, usd, Customer, payment) != before)
            {
                failures.Add($"{name}: the state changed");
            }
        }

        Assert.True(failures.Count == 0, $"{method} {path} {body}:\n" + string.Join("\n", failures));
    }

    // The bad text sits between valid characters, so a reader that stops at the first bad byte and one that reads on both see it.
    private static byte[] WithBadText(string body, byte[] bad)
    {
        var at = body.IndexOf(Here, StringComparison.Ordinal);
        return [.. Encoding.UTF8.GetBytes(body[..at] + "a"), .. bad, .. Encoding.UTF8.GetBytes("z" + body[(at + Here.Length)..])];
    }

    private static Task<HttpResponseMessage> SendAsync(TenantClient tenant, string method, string path, byte[] body, string? ifMatch)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (method == "POST")
        {
            request.Headers.Add("Idempotency-Key", TenantClient.NewKey());
        }
        else if (method == "PATCH" && ifMatch is not null)
        {
            // The account's current ETag, so a body that got through would be written.
            request.Headers.TryAddWithoutValidation("If-Match", ifMatch);
        }

        return tenant.SendAsync(request);
    }

    // What a client can read back, and the ledger's counts: the account (nickname, metadata, version, balance), the
    // customer, the payment and its refunds.
    private async Task<string> ReadStateAsync(TenantClient tenant, string account, string customer, string payment)
    {
        var state = new StringBuilder();
        state.AppendLine((await server.Probe.SnapshotAsync(tenant.TenantId)).ToString());
        foreach (var path in new[] { $"/v1/accounts/{account}", $"/v1/customers/{customer}", $"/v1/payments/{payment}", $"/v1/payments/{payment}/refunds" })
        {
            using var response = await tenant.GetAsync(path);
            state.Append((int)response.StatusCode).Append(' ').AppendLine(await response.Content.ReadAsStringAsync());
        }

        return state.ToString();
    }
}
