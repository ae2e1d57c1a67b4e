using System.Net.Http.Headers;
using System.Text.Json;
using Idem.Check.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Idem.Check.Tests;

/// <summary>The kit against the payments service itself (on SQLite files of its own), as any team would run it.</summary>
public sealed class PaymentsServiceTests(ITestOutputHelper log) : IAsyncLifetime
{
    private readonly string _directory = Directory.CreateTempSubdirectory("idem-check-payments-").FullName;
    private WebApplication _app = null!;
    private Uri _baseAddress = null!;

    public async Task InitializeAsync()
    {
        _app = Idem.Payments.PaymentsApp.Build(
        [
            "--urls", "http://127.0.0.1:0",
            "--Logging:LogLevel:Default=Warning",
            "--Logging:LogLevel:Microsoft.AspNetCore=Error",
            "--ConnectionStrings:Payments=Data Source=" + Path.Combine(_directory, "payments.db"),
            "--Processor:ConnectionString=Data Source=" + Path.Combine(_directory, "processor.db"),
        ]);
        await _app.StartAsync();
        _baseAddress = new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single());
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }

    private static string NewApiKey() => "sk_test_" + Guid.NewGuid().ToString("N");

    private async Task<string> CreateAccountAsync(string apiKey)
    {
        using var http = new HttpClient { BaseAddress = _baseAddress };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/accounts") { Content = JsonContent.Create(new { currency = "USD" }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await http.SendAsync(request);
        response.EnsureSuccessStatusCode();
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        return document.RootElement.GetProperty("id").GetString()!;
    }

    [Fact]
    public async Task Run_Deposits_EveryCheckThatApplies_Passes()
    {
        var apiKey = NewApiKey();
        var account = await CreateAccountAsync(apiKey);
        var target = new Target
        {
            Url = new Uri(_baseAddress, $"/v1/accounts/{account}/deposits").ToString(),
            // The service refuses unknown members, so the body cannot carry a unique value: a second amount stands for
            // "another request" in the key-reuse checks.
            Body = """{"amount":1}""",
            OtherBody = """{"amount":2}""",
            CallerA = new() { ["Authorization"] = "Bearer " + apiKey },
            EffectsUrl = new Uri(_baseAddress, $"/v1/accounts/{account}").ToString(),
            EffectsPath = "balances.posted",
            PauseSeconds = 0.5,
        };

        var report = await Targets.RunAsync(target);
        log.WriteLine(report.Describe());

        Assert.True(report.Results.All(r => r.Outcome != Outcome.Fail), report.Describe());
        // Skipped only for what this target cannot offer: a second caller on one tenant's account, a fault switch.
        var skipped = report.Results.Where(r => r.Outcome == Outcome.Skip).Select(r => r.Check.Id).ToHashSet();
        Assert.Subset(new HashSet<string> { "caller-scope", "server-error-not-stored", "drop-not-stored", "concurrent-retry-after" }, skipped);
        Assert.Contains(report.Results, r => r.Check.Id == "concurrent-one-effect" && r.Outcome == Outcome.Pass);
    }

    [Fact]
    public async Task Run_AccountsAsTwoTenants_KeysAreScopedPerTenant()
    {
        var target = new Target
        {
            Url = new Uri(_baseAddress, "/v1/accounts").ToString(),
            Body = """{"currency":"USD"}""",
            OtherBody = """{"currency":"EUR"}""",
            CallerA = new() { ["Authorization"] = "Bearer " + NewApiKey() },
            CallerB = new() { ["Authorization"] = "Bearer " + NewApiKey() },
            PauseSeconds = 0.5,
        };

        var report = await Targets.RunAsync(target);
        log.WriteLine(report.Describe());

        Assert.True(report.Results.All(r => r.Outcome != Outcome.Fail), report.Describe());
        Assert.Contains(report.Results, r => r.Check.Id == "caller-scope" && r.Outcome == Outcome.Pass);
    }
}
