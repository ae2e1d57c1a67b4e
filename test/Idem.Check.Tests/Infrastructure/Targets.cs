using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Idem.Check.Tests.Infrastructure;

/// <summary>The target description every test app is checked with.</summary>
internal static class Targets
{
    public const string FaultHeader = "X-Fail";
    public const string CallerHeader = "X-Api-Key";
    public const string DropHeader = "X-Drop";

    public static Target For(Uri baseAddress, int concurrency = 10) => new()
    {
        Url = new Uri(baseAddress, "/orders").ToString(),
        Body = """{"item":"book","ref":"{{unique}}"}""",
        CallerA = new() { [CallerHeader] = "caller-a" },
        CallerB = new() { [CallerHeader] = "caller-b" },
        EffectsUrl = new Uri(baseAddress, "/effects").ToString(),
        FaultHeaders = new() { [FaultHeader] = "1" },
        DropHeaders = new() { [DropHeader] = "1" },
        Concurrency = concurrency,
        // Long enough that the request is read whatever the machine's load; the apps hold it until the hang-up.
        HangUpSeconds = 0.2,
        PauseSeconds = 0.5,
    };

    /// <summary>A quiet app builder on a loopback port the OS chooses, for the apps the kit is run against.</summary>
    public static WebApplicationBuilder AppBuilder()
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { EnvironmentName = "Production" });
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.AddServerHeader = false).UseUrls("http://127.0.0.1:0");
        return builder;
    }

    /// <summary>
    /// Holds a request that asks to close its connection (the kit's socket requests: the one client-hang-up sends, and
    /// the two-header one where a flaw lets it through) until the client hangs up, two seconds at most, so the hang-up
    /// lands while the handler runs however loaded the machine is.
    /// </summary>
    public static async Task HoldUntilHungUpAsync(HttpContext context)
    {
        if (context.Request.Headers.Connection.ToString().Equals("close", StringComparison.OrdinalIgnoreCase))
        {
            await Task.Delay(TimeSpan.FromSeconds(2), context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    public static async Task<CheckReport> RunAsync(Target target)
    {
        using var runner = new CheckRunner(target);
        return await runner.RunAsync();
    }

    public static string[] Failed(this CheckReport report)
        => report.Results.Where(r => r.Outcome == Outcome.Fail).Select(r => r.Check.Id).Order(StringComparer.Ordinal).ToArray();

    public static string Describe(this CheckReport report)
        => string.Join("\n", report.Results.Select(r => $"{r.Outcome} {r.Check.Id}: {r.Detail}"));
}
