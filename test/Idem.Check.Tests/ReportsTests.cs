using Spectre.Console;

namespace Idem.Check.Tests;

/// <summary>The terminal table a person sees.</summary>
public sealed class ReportsTests
{
    [Fact]
    public void WriteTable_Terminal_ShowsEveryCheckAndEscapesDetails()
    {
        var report = new CheckReport("POST", "http://127.0.0.1/orders", DateTimeOffset.UnixEpoch, TimeSpan.FromSeconds(1), 3,
        [
            new CheckResult(CheckCatalog.FirstCall, Outcome.Pass, "answered 201"),
            new CheckResult(CheckCatalog.CallerScope, Outcome.Fail, "caller B got a replay [of A's answer]"),
            new CheckResult(CheckCatalog.ServerErrorNotStored, Outcome.Skip, "no fault headers"),
        ]);
        using var writer = new StringWriter();
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(writer), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 200;

        Reports.WriteTable(report, console);

        var text = writer.ToString();
        Assert.Contains("first-call", text, StringComparison.Ordinal);
        Assert.Contains("caller B got a replay [of A's answer]", text, StringComparison.Ordinal);
        Assert.Contains("1 passed, 1 failed, 1 skipped", text, StringComparison.Ordinal);
        Assert.Contains("a \"must\" check failed", text, StringComparison.Ordinal);
    }
}
