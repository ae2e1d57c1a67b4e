using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Idem.Testing;
using Xunit;

namespace Idem.Payments.Tests.Web;

/// <summary>
/// An Idempotency-Key header holding a byte past ASCII (legal in HTTP, e.g. Latin-1 0xE9) reaches Idem, which refuses it
/// as <c>idempotency-key-invalid</c> problem+json (BEHAVIOUR.md §1, §4), not Kestrel's bodiless 400; nothing is created.
/// </summary>
public abstract class IdempotencyKeyHeaderTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : IdempotencyKeyHeaderTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : IdempotencyKeyHeaderTests(server);

    private const string KeyInvalid = "urn:idem:problem:idempotency-key-invalid";

    [Theory]
    [InlineData("caf\u00e9")]
    [InlineData("\"caf\u00e9\"")]
    [InlineData("\u00ff")]
    public async Task Post_KeyWithNonAsciiByte_400KeyInvalidProblemAndCreatesNothing(string key)
    {
        var tenant = server.NewTenant();

        // One keyed request first, so the keys table exists however the tests are ordered (Idem creates it on first use).
        await tenant.CreateAccountIdAsync();
        var accounts = await server.Probe.CountAsync("SELECT COUNT(*) FROM accounts");
        var keys = await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_keys");

        // RawHttp writes each char below 0x100 as one byte: the header line carries the byte 0xE9 itself.
        var reply = await RawHttp.SendAsync(server.BaseAddress, "POST", "/v1/accounts",
            [("Authorization", "Bearer " + tenant.ApiKey), ("Idempotency-Key", key)], """{"currency":"USD"}""");

        Assert.True(reply.Status == 400, $"Expected 400, got {reply.Status}: {reply.Text}");
        Assert.True(reply.Headers.TryGetValue("Content-Type", out var contentType), "400 without a body: Kestrel refused the header before Idem saw it.");
        Assert.StartsWith("application/problem+json", Assert.Single(contentType), StringComparison.Ordinal);
        var problem = JsonDocument.Parse(reply.Body).RootElement;
        Assert.Equal(KeyInvalid, problem.GetProperty("type").GetString());
        Assert.Equal(400, problem.GetProperty("status").GetInt32());
        Assert.Equal(accounts, await server.Probe.CountAsync("SELECT COUNT(*) FROM accounts"));
        Assert.Equal(keys, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_keys"));
    }
}
