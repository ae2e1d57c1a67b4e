using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Idem.Gateway.Tests.Infrastructure;

namespace Idem.Gateway.Tests;

/// <summary>
/// The payments service (a process on a SQLite file of its own) behind the gateway: the gateway forwards each key
/// unchanged, so the service's own deduplication and the gateway's agree, and money moves once.
/// </summary>
[Collection(ProcessTests.Name)]
public sealed class PaymentsUpstreamTests : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("idem-gateway-payments-").FullName;
    private readonly string _apiKey = "sk_test_" + Guid.NewGuid().ToString("N");
    private ServiceProcess _payments = null!;
    private GatewayNode _gateway = null!;

    public async Task InitializeAsync()
    {
        _payments = await ServiceProcess.StartDotnetAsync("The payments service", ServiceProcess.PaymentsPath, Path.GetDirectoryName(ServiceProcess.PaymentsPath)!,
            "--ConnectionStrings:Payments=Data Source=" + Path.Combine(_directory, "payments.db"),
            "--Processor:ConnectionString=Data Source=" + Path.Combine(_directory, "processor.db"),
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.Hosting.Lifetime=Information");
        _gateway = await GatewayNode.StartAsync(new GatewaySetup
        {
            Upstream = _payments.BaseAddress,
            Path = "/v1/{**rest}",
            Metadata = new Dictionary<string, string> { ["Idempotency.Required"] = "true", ["Idempotency.Scope"] = "Header:Authorization" },
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _payments.DisposeAsync();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public async Task Transfer_FiftyParallelRetriesWithOneKeyThroughTheGateway_MoveMoneyOnceAndReplayExactly()
    {
        const int Count = 50;
        var from = await CreateAccountAsync();
        var to = await CreateAccountAsync();
        var deposit = await PostAsync($"/v1/accounts/{from}/deposits", """{"amount":10000}""", Requests.NewKey());
        Assert.Equal(201, deposit.Status);
        var key = Requests.NewKey();
        var transfer = $$"""{"from_account":"{{from}}","to_account":"{{to}}","amount":1234,"currency":"USD"}""";

        var replies = await Requests.BurstAsync(Count, _ => PostAsync("/v1/transfers", transfer, key)).WaitAsync(TimeSpan.FromSeconds(120));
        var replay = await PostAsync("/v1/transfers", transfer, key);
        var mismatch = await PostAsync("/v1/transfers", transfer.Replace("1234", "999", StringComparison.Ordinal), key);

        var created = replies.Where(r => r.Status == 201).ToArray();
        var first = Assert.Single(created, r => !r.Replayed);
        Assert.All(replies, r => Assert.True(r.Status is 201 or 409, r.ToString()));

        // The race happened: requests met the first one in flight at the gateway.
        Assert.Contains(replies, r => r.Status == 409);
        Assert.All(created, r => Assert.Equal(first.Body, r.Body));
        Assert.StartsWith("/v1/transfers/", first.Location, StringComparison.Ordinal);
        Assert.True(replay.Replayed);
        Assert.Equal(first.Status, replay.Status);
        Assert.Equal(first.Body, replay.Body);
        Assert.Equal(first.Location, replay.Location);
        Assert.Equal(first.ContentType, replay.ContentType);
        Assert.Equal(422, mismatch.Status);
        Assert.Equal(10_000 - 1_234, await BalanceAsync(from));
        Assert.Equal(1_234, await BalanceAsync(to));
    }

    private async Task<string> CreateAccountAsync()
    {
        var reply = await PostAsync("/v1/accounts", """{"currency":"USD"}""", Requests.NewKey());
        Assert.Equal(201, reply.Status);
        return JsonDocument.Parse(reply.Body).RootElement.GetProperty("id").GetString()!;
    }

    private async Task<long> BalanceAsync(string account)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, $"/v1/accounts/{account}");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _apiKey);
        var reply = await _gateway.Http.SendReadAsync(request);
        Assert.Equal(200, reply.Status);
        return JsonDocument.Parse(reply.Body).RootElement.GetProperty("balance").GetInt64();
    }

    private Task<Reply> PostAsync(string path, string json, string key)
        => _gateway.Http.PostAsync(path, key, json, caller: "Bearer " + _apiKey);
}
