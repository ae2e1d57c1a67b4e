using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;

namespace Idem.Payments.Tests.Batches;

/// <summary>Builds and sends <c>POST /v1/batches</c>, and the checks every batch test makes afterwards.</summary>
internal static class BatchRequests
{
    public const string Problem = "urn:idem:payments:problem:";

    public static string Json(IEnumerable<(string From, string To, long Amount)> items, string currency = "USD")
        => "{\"transfers\":[" + string.Join(",", items.Select(i => TenantClient.TransferJson(i.From, i.To, i.Amount, currency))) + "]}";

    public static Task<HttpResponseMessage> PostBatchAsync(this TenantClient tenant, string json, string? idempotencyKey = null)
        => tenant.PostAsync("/v1/batches", json, idempotencyKey);

    public static Task<HttpResponseMessage> PostBatchAsync(this TenantClient tenant, params (string From, string To, long Amount)[] items)
        => tenant.PostBatchAsync(Json(items));

    /// <summary>
    /// A POST that sends its body only once the server asks for it (<c>Expect: 100-continue</c>): a body the server refuses
    /// by its length is answered 413 before it is sent, instead of the server closing the connection under a client still
    /// writing it.
    /// </summary>
    public static Task<HttpResponseMessage> PostBatchExpectingContinueAsync(this TenantClient tenant, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/batches")
        {
            Content = new StringContent(json, Encoding.UTF8, MediaTypeHeaderValue.Parse("application/json")),
        };
        request.Headers.Add("Idempotency-Key", TenantClient.NewKey());
        request.Headers.ExpectContinue = true;
        return tenant.SendAsync(request);
    }

    /// <summary>A POST with no Idempotency-Key header at all.</summary>
    public static Task<HttpResponseMessage> PostBatchWithoutKeyAsync(this TenantClient tenant, string json)
        => tenant.SendAsync(new HttpRequestMessage(HttpMethod.Post, "/v1/batches")
        {
            Content = new StringContent(json, Encoding.UTF8, MediaTypeHeaderValue.Parse("application/json")),
        });

    /// <summary>Opens an account with limits: how far below zero it may go, and the most it may hold.</summary>
    public static async Task<string> OpenAccountAsync(this TenantClient tenant, long overdraftLimit = 0, long? maxBalance = null, string currency = "USD")
    {
        var limits = maxBalance is { } cap ? $",\"max_balance\":{cap}" : "";
        using var response = await tenant.PostAsync("/v1/accounts", $$"""{"currency":"{{currency}}","overdraft_limit":{{overdraftLimit}}{{limits}}}""");
        return (await TenantClient.ReadJsonAsync(response, HttpStatusCode.Created)).GetProperty("id").GetString()!;
    }

    public static async Task<JsonElement> AuditAsync(this TenantClient tenant)
    {
        using var response = await tenant.GetAsync("/v1/ledger/audit");
        return await TenantClient.ReadJsonAsync(response, HttpStatusCode.OK);
    }

    /// <summary>GET /v1/ledger/audit holds every check for the tenant (batches complete, hash chains intact, limits kept, …).</summary>
    public static async Task AssertAuditCleanAsync(this TenantClient tenant)
    {
        var audit = await tenant.AuditAsync();
        Assert.True(audit.GetProperty("ok").GetBoolean(), audit.GetRawText());
    }

    /// <summary>Asserts a 422 batch-item-failed naming <paramref name="failedItem"/> with an error of <paramref name="errorType"/>; returns the body.</summary>
    public static async Task<JsonElement> AssertItemFailedAsync(HttpResponseMessage response, int failedItem, int itemCount, string errorType, string param)
    {
        var problem = await ProblemAssert.IsProblemAsync(response, HttpStatusCode.UnprocessableEntity, Problem + "batch-item-failed");
        Assert.Equal(failedItem, problem.GetProperty("failed_item").GetInt32());
        var error = problem.GetProperty("error");
        Assert.Equal(Problem + errorType, error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.False(string.IsNullOrEmpty(error.GetProperty("title").GetString()));
        Assert.False(string.IsNullOrEmpty(error.GetProperty("detail").GetString()));
        var items = problem.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(itemCount, items.Count);
        for (var i = 0; i < itemCount; i++)
        {
            Assert.Equal(i, items[i].GetProperty("index").GetInt32());
            Assert.Equal(i < failedItem ? "valid" : i == failedItem ? "failed" : "not_checked", items[i].GetProperty("status").GetString());
        }

        return problem;
    }
}
