using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Xunit;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>Sends requests as one tenant (one API key), with an idempotency key on every POST unless told otherwise.</summary>
public sealed class TenantClient(HttpClient http, string apiKey)
{
    public string ApiKey { get; } = apiKey;

    public string TenantId => Payments.Auth.Tenants.FromApiKey(ApiKey);

    public static string NewKey() => "key-" + Guid.NewGuid().ToString("N");

    public Task<HttpResponseMessage> PostAsync(string path, string json, string? idempotencyKey = null, string contentType = "application/json")
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path)
        {
            Content = new StringContent(json, Encoding.UTF8, MediaTypeHeaderValue.Parse(contentType)),
        };
        request.Headers.Add("Idempotency-Key", idempotencyKey ?? NewKey());
        return SendAsync(request);
    }

    public Task<HttpResponseMessage> GetAsync(string path) => SendAsync(new HttpRequestMessage(HttpMethod.Get, path));

    public Task<HttpResponseMessage> SendAsync(HttpRequestMessage request)
    {
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", ApiKey);
        return http.SendAsync(request);
    }

    public async Task<JsonElement> CreateAccountAsync(string currency = "USD")
    {
        using var response = await PostAsync("/v1/accounts", $$"""{"currency":"{{currency}}"}""");
        return await ReadJsonAsync(response, HttpStatusCode.Created);
    }

    public async Task<string> CreateAccountIdAsync(string currency = "USD") => (await CreateAccountAsync(currency)).GetProperty("id").GetString()!;

    public async Task<JsonElement> DepositAsync(string accountId, long amount)
    {
        using var response = await PostAsync($"/v1/accounts/{accountId}/deposits", $$"""{"amount":{{amount}}}""");
        return await ReadJsonAsync(response, HttpStatusCode.Created);
    }

    public Task<HttpResponseMessage> TransferAsync(string from, string to, long amount, string currency = "USD", string? idempotencyKey = null)
        => PostAsync("/v1/transfers", TransferJson(from, to, amount, currency), idempotencyKey);

    public static string TransferJson(string from, string to, long amount, string currency = "USD")
        => $$"""{"from_account":"{{from}}","to_account":"{{to}}","amount":{{amount}},"currency":"{{currency}}"}""";

    public async Task<JsonElement> GetAccountAsync(string accountId)
    {
        using var response = await GetAsync($"/v1/accounts/{accountId}");
        return await ReadJsonAsync(response, HttpStatusCode.OK);
    }

    public async Task<long> BalanceAsync(string accountId) => (await GetAccountAsync(accountId)).GetProperty("balance").GetInt64();

    /// <summary>Runs the ledger's audit (hash chains, limits, holds, processor records) and asserts every check passes.</summary>
    public async Task AssertAuditCleanAsync()
    {
        using var response = await GetAsync("/v1/ledger/audit");
        var audit = await ReadJsonAsync(response, HttpStatusCode.OK);
        Assert.True(audit.GetProperty("ok").GetBoolean(), audit.GetRawText());
    }

    public static async Task<JsonElement> ReadJsonAsync(HttpResponseMessage response, HttpStatusCode expected)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == expected, $"Expected {(int)expected}, got {(int)response.StatusCode}: {body}");
        return JsonDocument.Parse(body).RootElement.Clone();
    }
}
