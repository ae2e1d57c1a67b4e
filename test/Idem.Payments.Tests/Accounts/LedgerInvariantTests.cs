using System.Net;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Accounts;

public abstract class LedgerInvariantTests(PaymentsServer server)
{
    [Collection(SqlitePaymentsServer.Collection)]
    public sealed class OnSqlite(SqlitePaymentsServer server) : LedgerInvariantTests(server);

    [Collection(PostgresPaymentsServer.Collection)]
    public sealed class OnPostgres(PostgresPaymentsServer server) : LedgerInvariantTests(server);

    private static readonly string[] Currencies = ["USD", "EUR", "JPY"];

    [Fact]
    public async Task RandomOperations_LedgerSumsToZeroPerCurrencyAndBalancesMatchEntries()
    {
        var random = new Random(20_251_128);
        var tenants = Enumerable.Range(0, 3).Select(_ => server.NewTenant()).ToArray();
        var accounts = new List<(TenantClient Tenant, string Id, string Currency)>();
        foreach (var tenant in tenants)
        {
            foreach (var currency in Currencies)
            {
                accounts.Add((tenant, await tenant.CreateAccountIdAsync(currency), currency));
                accounts.Add((tenant, await tenant.CreateAccountIdAsync(currency), currency));
            }
        }

        var outcomes = new Dictionary<HttpStatusCode, int>();
        var retries = new List<(TenantClient Tenant, string Path, string Body, string Key)>();
        for (var i = 0; i < 150; i++)
        {
            var (tenant, id, currency) = accounts[random.Next(accounts.Count)];
            string path, body;
            if (random.Next(3) == 0)
            {
                path = $"/v1/accounts/{id}/deposits";
                body = $$"""{"amount":{{random.Next(1, 5_000)}}}""";
            }
            else
            {
                // Mostly same-tenant, same-currency transfers; some across currencies or tenants, some too large: refused.
                var candidates = random.Next(10) == 0 ? accounts : accounts.Where(a => a.Tenant == tenant && (a.Currency == currency || random.Next(8) == 0)).ToList();
                var (_, other, _) = candidates[random.Next(candidates.Count)];
                path = "/v1/transfers";
                body = TenantClient.TransferJson(id, other, random.Next(1, 3_000), currency);
            }

            var key = TenantClient.NewKey();
            using var response = await tenant.PostAsync(path, body, key);
            Assert.True((int)response.StatusCode < 500, await response.Content.ReadAsStringAsync());
            outcomes[response.StatusCode] = outcomes.GetValueOrDefault(response.StatusCode) + 1;
            if (random.Next(4) == 0)
            {
                retries.Add((tenant, path, body, key));
            }
        }

        // Retries replay; they never move money again.
        var sumsBeforeRetries = await server.Probe.EntrySumsByCurrencyAsync();
        var entriesBeforeRetries = await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries");
        foreach (var (tenant, path, body, key) in retries)
        {
            using var response = await tenant.PostAsync(path, body, key);
            Assert.Equal("true", Assert.Single(response.Headers.GetValues("Idempotent-Replayed")));
        }

        Assert.Equal(entriesBeforeRetries, await server.Probe.CountAsync("SELECT COUNT(*) FROM ledger_entries"));
        Assert.True(outcomes.GetValueOrDefault(HttpStatusCode.Created) > 50, string.Join(", ", outcomes));
        Assert.True(outcomes.Keys.Any(s => s != HttpStatusCode.Created), "the mix should include refusals");
        var sums = await server.Probe.EntrySumsByCurrencyAsync();
        Assert.Equal(sumsBeforeRetries, sums);
        Assert.All(sums, pair => Assert.Equal(0, pair.Value));
        Assert.Empty(await server.Probe.InconsistentAccountsAsync());
        Assert.Equal(0, await server.Probe.UnbalancedMovementsAsync());
        foreach (var (tenant, id, _) in accounts)
        {
            Assert.True(await tenant.BalanceAsync(id) >= 0);
        }
    }
}
