using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace Idem.Payments.Tests.Infrastructure;

/// <summary>
/// The card processor simulator's own record of what it really charged and refunded (GET /v1/charges, /v1/refunds),
/// read over HTTP: the tests' witness outside the payments database.
/// </summary>
public sealed class ProcessorProbe(Uri baseAddress) : IDisposable
{
    private readonly HttpClient _http = new() { BaseAddress = baseAddress, Timeout = TimeSpan.FromSeconds(30) };

    public async Task<List<JsonElement>> ChargesAsync()
        => [.. (await _http.GetFromJsonAsync<JsonElement>("v1/charges")).EnumerateArray()];

    public async Task<List<JsonElement>> RefundsAsync()
        => [.. (await _http.GetFromJsonAsync<JsonElement>("v1/refunds")).EnumerateArray()];

    /// <summary>The processor's charges made for one payment (their reference is the payment's id).</summary>
    public async Task<List<JsonElement>> ChargesOfAsync(string paymentId)
        => [.. (await ChargesAsync()).Where(c => c.GetProperty("reference").GetString() == paymentId)];

    /// <summary>The processor's refunds of one charge.</summary>
    public async Task<List<JsonElement>> RefundsOfChargeAsync(string chargeId)
        => [.. (await RefundsAsync()).Where(r => r.GetProperty("charge").GetString() == chargeId)];

    /// <summary>How many charge or refund requests reached the processor under one idempotency key, replays included.</summary>
    public async Task<int> RequestsUnderAsync(string key)
        => (await _http.GetFromJsonAsync<JsonElement>("v1/requests/" + Uri.EscapeDataString(key))).GetProperty("requests").GetInt32();

    /// <summary>Charges the processor directly, under a key of the test's own: a charge the payments service never asked for.</summary>
    public async Task<JsonElement> ChargeDirectlyAsync(string reference, long amount, string currency = "USD")
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "v1/charges")
        {
            Content = JsonContent.Create(new Dictionary<string, object> { ["amount"] = amount, ["currency"] = currency, ["source"] = "tok_visa", ["reference"] = reference }),
        };
        request.Headers.Add("Idempotency-Key", "rogue-" + Guid.NewGuid().ToString("N"));
        using var response = await _http.SendAsync(request);
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Card payments and refunds as a tenant sends them.</summary>
public static class PaymentRequests
{
    public static string PaymentJson(string account, long amount, string source = "tok_visa", string currency = "USD")
        => $$"""{"amount":{{amount}},"currency":"{{currency}}","source":"{{source}}","account":"{{account}}"}""";

    public static Task<HttpResponseMessage> PayAsync(this TenantClient tenant, string account, long amount, string source = "tok_visa", string? key = null, string currency = "USD")
        => tenant.PostAsync("/v1/payments", PaymentJson(account, amount, source, currency), key);

    /// <summary>A succeeded tok_visa payment; returns its body.</summary>
    public static async Task<JsonElement> PaySucceededAsync(this TenantClient tenant, string account, long amount)
    {
        using var response = await tenant.PayAsync(account, amount);
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created);
    }

    public static Task<HttpResponseMessage> RefundAsync(this TenantClient tenant, string paymentId, long amount, string? key = null)
        => tenant.PostAsync($"/v1/payments/{paymentId}/refunds", $$"""{"amount":{{amount}}}""", key);

    public static async Task<JsonElement> GetPaymentAsync(this TenantClient tenant, string paymentId)
    {
        using var response = await tenant.GetAsync($"/v1/payments/{paymentId}");
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
    }

    /// <summary>Retries a POST with its key while it answers 503 (an outcome being settled), a bounded number of times.</summary>
    public static async Task<HttpResponseMessage> RetryWhilePendingAsync(Func<Task<HttpResponseMessage>> send, Action<HttpStatusCode, string>? onPending = null, int attempts = 40)
    {
        for (var i = 1; ; i++)
        {
            var response = await send();
            if (response.StatusCode is not (HttpStatusCode.ServiceUnavailable or HttpStatusCode.Conflict) || i == attempts)
            {
                return response;
            }

            onPending?.Invoke(response.StatusCode, await response.Content.ReadAsStringAsync());
            response.Dispose();
            await Task.Delay(250);
        }
    }
}
