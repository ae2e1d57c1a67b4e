using System.Net;
using System.Text.Json;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// A fixed list of transfers between a tenant's accounts, each with its own idempotency key, and the balances any subset
/// of them must leave when each happens exactly once.
/// </summary>
internal sealed class TransferPlan(TenantClient tenant, string[] accounts, string keyPrefix)
{
    public string Key(int index) => $"{keyPrefix}-{index}";

    /// <summary>Transfer <paramref name="index"/>: never an account to itself, amounts 1–13 minor units.</summary>
    public (string From, string To, long Amount) this[int index]
    {
        get
        {
            var n = accounts.Length;
            return (accounts[index % n], accounts[(index + 1 + (index / n % (n - 1))) % n], 1 + (index % 13));
        }
    }

    public static async Task<TransferPlan> CreateAsync(TenantClient tenant, int accountCount, long funding, string keyPrefix)
    {
        var accounts = new string[accountCount];
        for (var i = 0; i < accountCount; i++)
        {
            accounts[i] = await tenant.CreateAccountIdAsync();
            await tenant.DepositAsync(accounts[i], funding);
        }

        return new TransferPlan(tenant, accounts, keyPrefix);
    }

    public IReadOnlyList<string> Accounts => accounts;

    /// <summary>Sends transfer <paramref name="index"/> with its key through <paramref name="client"/> (a node's client for the tenant).</summary>
    public Task<HttpResponseMessage> SendAsync(TenantClient client, int index)
    {
        var (from, to, amount) = this[index];
        return client.TransferAsync(from, to, amount, idempotencyKey: Key(index));
    }

    /// <summary>The balances after the transfers <paramref name="indices"/> each happened once, from <paramref name="funding"/> each.</summary>
    public Dictionary<string, long> ExpectedBalances(IEnumerable<int> indices, long funding)
    {
        var balances = accounts.ToDictionary(a => a, _ => funding, StringComparer.Ordinal);
        foreach (var index in indices)
        {
            var (from, to, amount) = this[index];
            balances[from] -= amount;
            balances[to] += amount;
        }

        return balances;
    }

    public async Task<Dictionary<string, long>> BalancesAsync(TenantClient client)
    {
        var balances = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var account in accounts)
        {
            balances[account] = await client.BalanceAsync(account);
        }

        return balances;
    }

    /// <summary>The tenant the plan's accounts belong to.</summary>
    public TenantClient Tenant => tenant;

    public static string TransferIdOf(byte[] body) => JsonDocument.Parse(body).RootElement.GetProperty("id").GetString()!;

    /// <summary>
    /// Sends transfer <paramref name="index"/> until the answer is final: 409 (in progress) and 503 (unavailable) say a
    /// retry with the same key is safe, so a client retries them. Returns the final answer.
    /// </summary>
    public async Task<(HttpStatusCode Status, bool Replayed, byte[] Body)> SendUntilFinalAsync(TenantClient client, int index, int attempts = 100)
    {
        for (var attempt = 1; ; attempt++)
        {
            using var response = await SendAsync(client, index);
            var body = await response.Content.ReadAsByteArrayAsync();
            if (!IsRetryable(response.StatusCode) || attempt == attempts)
            {
                return (response.StatusCode, response.Headers.Contains("Idempotent-Replayed"), body);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(100));
        }
    }

    public static bool IsRetryable(HttpStatusCode status) => status is HttpStatusCode.Conflict or HttpStatusCode.ServiceUnavailable;
}
