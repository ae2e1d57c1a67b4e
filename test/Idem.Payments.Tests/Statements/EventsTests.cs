using System.Net;
using System.Text.Json;
using Idem.Payments.Statements;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Statements;

/// <summary>
/// Succeeded payments, refunds and transfers go through the outbox to the statements consumer (its inbox and its
/// statement_lines), and GET /v1/accounts/{id}/statements/{month} shows them: once per event and account, never for a
/// replay or a decline. In-process on both databases; through a real RabbitMQ on SQLite.
/// </summary>
public abstract class EventsTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : EventsTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : EventsTests(server);

    /// <summary>The same, with the events moved by RabbitMQ (IDEM_TEST_RABBITMQ) on an exchange and queue of its own.</summary>
    [Trait("Category", "RabbitMQ")]
    public sealed class OnSqliteThroughRabbitMq(RabbitMqSqlitePaymentsServer server) : EventsTests(server), IClassFixture<RabbitMqSqlitePaymentsServer>;

    private const string Problem = "urn:idem:payments:problem:";

    // A bound on waiting for the consumer, not a timing assertion: a loaded machine gets there much sooner or fails here.
    private static readonly TimeSpan WaitLimit = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PaymentRefundTransfer_EachOnTheStatementsOnce()
    {
        var tenant = server.NewTenant();
        var merchant = await tenant.CreateAccountIdAsync();
        var other = await tenant.CreateAccountIdAsync();
        var payment = (await tenant.PaySucceededAsync(merchant, 1_000)).GetProperty("id").GetString()!;
        string refund;
        using (var response = await tenant.RefundAsync(payment, 300))
        {
            refund = (await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        }

        string transfer;
        using (var response = await tenant.TransferAsync(merchant, other, 200))
        {
            transfer = (await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        }

        await WaitForLinesAsync(tenant, 4);
        await WaitForOutboxDrainedAsync();

        var merchantLines = await StatementLinesAsync(tenant, merchant);
        Assert.Equal(
            new[] { (payment, "payment.succeeded", 1_000L), (refund, "refund.succeeded", -300L), (transfer, "transfer.succeeded", -200L) }.OrderBy(l => l.Item1, StringComparer.Ordinal),
            merchantLines.Select(l => (l.Id, l.Type, l.Amount)).OrderBy(l => l.Id, StringComparer.Ordinal));
        Assert.Equal(await tenant.BalanceAsync(merchant), merchantLines.Sum(l => l.Amount));
        Assert.Equal([(transfer, "transfer.succeeded", 200L)], (await StatementLinesAsync(tenant, other)).Select(l => (l.Id, l.Type, l.Amount)));
        Assert.Equal(4, await server.Probe.CountAsync("SELECT COUNT(*) FROM statement_lines WHERE tenant_id = @t", tenant.TenantId));
        foreach (var id in new[] { $"payment.succeeded:{payment}", $"refund.succeeded:{refund}", $"transfer.succeeded:{transfer}" })
        {
            Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", id));
            Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_inbox WHERE consumer = 'statements' AND state = 1 AND message_id = @t", id));
        }
    }

    [Fact]
    public async Task Payment_ReplayedWithItsKey_NoSecondEventOrLine()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var key = TenantClient.NewKey();
        string payment;
        using (var first = await tenant.PayAsync(account, 700, key: key))
        {
            payment = (await TenantClient.ReadJsonAsync(first, HttpStatusCode.Created)).GetProperty("id").GetString()!;
        }

        using (var replay = await tenant.PayAsync(account, 700, key: key))
        {
            Assert.Equal(HttpStatusCode.Created, replay.StatusCode);
            Assert.Equal("true", Assert.Single(replay.Headers.GetValues("Idempotent-Replayed")));
        }

        // A later event of the same account (the same aggregate) is published after the first one: once its line is
        // there, anything the replay could have caused would be there too.
        var marker = (await tenant.PaySucceededAsync(account, 5)).GetProperty("id").GetString()!;
        await WaitForLinesAsync(tenant, 2, marker);
        await WaitForOutboxDrainedAsync();

        Assert.Equal(1, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id = @t", $"payment.succeeded:{payment}"));
        var lines = await StatementLinesAsync(tenant, account);
        Assert.Equal([(payment, 700L), (marker, 5L)], lines.Select(l => (l.Id, l.Amount)).OrderByDescending(l => l.Amount));
    }

    [Fact]
    public async Task DeclinedPayment_NoEventOrLine()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        string declined;
        using (var response = await tenant.PayAsync(account, 900, "tok_declined"))
        {
            declined = (await ProblemAssert.IsProblemAsync(response, HttpStatusCode.PaymentRequired)).GetProperty("payment").GetString()!;
        }

        var marker = (await tenant.PaySucceededAsync(account, 5)).GetProperty("id").GetString()!;
        await WaitForLinesAsync(tenant, 1, marker);
        await WaitForOutboxDrainedAsync();

        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE id LIKE '%' || @t", declined));
        Assert.Equal(0, await server.Probe.CountAsync("SELECT COUNT(*) FROM statement_lines WHERE event_id = @t", declined));
        Assert.Equal([(marker, 5L)], (await StatementLinesAsync(tenant, account)).Select(l => (l.Id, l.Amount)));
    }

    [Fact]
    public async Task Statement_UnknownAccountOrBadMonth_ReturnsProblem()
    {
        var tenant = server.NewTenant();
        var account = await tenant.CreateAccountIdAsync();
        var otherTenantAccount = await server.NewTenant().CreateAccountIdAsync();

        using (var unknown = await tenant.GetAsync("/v1/accounts/acct_nothing/statements/2026-11"))
        {
            await ProblemAssert.IsProblemAsync(unknown, HttpStatusCode.NotFound, Problem + "account-not-found");
        }

        using (var foreign = await tenant.GetAsync($"/v1/accounts/{otherTenantAccount}/statements/2026-11"))
        {
            await ProblemAssert.IsProblemAsync(foreign, HttpStatusCode.NotFound, Problem + "account-not-found");
        }

        foreach (var month in new[] { "2026-13", "2026-1", "2026-00", "november", "2026-11-01", "202611" })
        {
            using var bad = await tenant.GetAsync($"/v1/accounts/{account}/statements/{month}");
            var problem = await ProblemAssert.IsProblemAsync(bad, HttpStatusCode.BadRequest, Problem + "invalid-request");
            Assert.True(problem.GetProperty("errors").TryGetProperty("month", out _), month);
        }

        using var empty = await tenant.GetAsync($"/v1/accounts/{account}/statements/2026-11");
        var statement = await TenantClient.ReadJsonAsync(empty, HttpStatusCode.OK);
        Assert.Equal(account, statement.GetProperty("account").GetString());
        Assert.Equal("2026-11", statement.GetProperty("month").GetString());
        Assert.Equal(0, statement.GetProperty("total").GetInt64());
        Assert.Empty(statement.GetProperty("lines").EnumerateArray());
    }

    private sealed record Line(string Id, string Type, long Amount);

    /// <summary>Waits (bounded) until the tenant has <paramref name="count"/> statement lines, including <paramref name="eventId"/>'s if given.</summary>
    private async Task WaitForLinesAsync(TenantClient tenant, long count, string? eventId = null)
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (true)
        {
            var lines = await server.Probe.CountAsync("SELECT COUNT(*) FROM statement_lines WHERE tenant_id = @t", tenant.TenantId);
            var hasEvent = eventId is null || await server.Probe.CountAsync("SELECT COUNT(*) FROM statement_lines WHERE event_id = @t", eventId) > 0;
            if (lines >= count && hasEvent)
            {
                return;
            }

            Assert.True(DateTime.UtcNow < deadline, $"The tenant has {lines} statement lines after {WaitLimit.TotalSeconds} s; expected {count}.");
            await Task.Delay(100);
        }
    }

    /// <summary>Waits (bounded) until the outbox holds nothing unpublished: no delivery is still on its way.</summary>
    private async Task WaitForOutboxDrainedAsync()
    {
        var deadline = DateTime.UtcNow + WaitLimit;
        while (await server.Probe.CountAsync("SELECT COUNT(*) FROM idem_outbox WHERE published_at IS NULL") is var pending and > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{pending} outbox messages are still unpublished after {WaitLimit.TotalSeconds} s.");
            await Task.Delay(100);
        }
    }

    /// <summary>The account's lines through the API, over every month the consumer filed them in (a test may straddle two).</summary>
    private async Task<List<Line>> StatementLinesAsync(TenantClient tenant, string account)
    {
        var months = (await server.Probe.RowsAsync($"SELECT DISTINCT month FROM statement_lines WHERE account_id = '{account}'")).Select(r => r[0]!).ToList();
        var lines = new List<Line>();
        foreach (var month in months)
        {
            using var response = await tenant.GetAsync($"/v1/accounts/{account}/statements/{month}");
            var statement = await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
            var these = statement.GetProperty("lines").EnumerateArray()
                .Select(l => new Line(l.GetProperty("id").GetString()!, l.GetProperty("type").GetString()!, l.GetProperty("amount").GetInt64())).ToList();
            Assert.Equal(these.Sum(l => l.Amount), statement.GetProperty("total").GetInt64());
            Assert.All(statement.GetProperty("lines").EnumerateArray(), l => Assert.Equal(month, l.GetProperty("occurred_at").GetDateTime().ToString("yyyy-MM", System.Globalization.CultureInfo.InvariantCulture)));
            lines.AddRange(these);
        }

        return lines;
    }
}

/// <summary>The service on SQLite with its events on a real RabbitMQ (IDEM_TEST_RABBITMQ): an exchange and queues of its own.</summary>
public sealed class RabbitMqSqlitePaymentsServer : SqlitePaymentsServer
{
    private readonly string _name = "idem.payments.test." + Guid.NewGuid().ToString("N");

    private static string BrokerUri => Environment.GetEnvironmentVariable("IDEM_TEST_RABBITMQ") is { Length: > 0 } value
        ? value
        : throw new InvalidOperationException("IDEM_TEST_RABBITMQ is not set. These tests need a real RabbitMQ: `. artifacts/test-services.env` (eng/provision.sh writes it).");

    protected override string[] ExtraArguments()
        => ["--Messaging:RabbitMq=" + BrokerUri, "--Messaging:Exchange=" + _name, "--Messaging:QueuePrefix=" + _name + "."];

    // After the database, the broker's share: the durable exchange and queues this server declared would outlive the run.
    protected override async Task DeleteDatabaseAsync()
    {
        await base.DeleteDatabaseAsync();
        await using var connection = await new RabbitMQ.Client.ConnectionFactory { Uri = new Uri(BrokerUri) }.CreateConnectionAsync();
        await using var channel = await connection.CreateChannelAsync();
        foreach (var queue in new[] { $"{_name}.{StatementsHandler.ConsumerName}", $"{_name}.{StatementsHandler.ConsumerName}.dead-letter" })
        {
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
        }

        await channel.ExchangeDeleteAsync(_name, ifUnused: false);
    }
}
