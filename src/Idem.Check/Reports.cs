using System.Globalization;
using System.Text.Json;
using System.Xml.Linq;
using Spectre.Console;

namespace Idem.Check;

/// <summary>The report as a terminal table, a JSON file and a JUnit XML file.</summary>
internal static class Reports
{
    public static void WriteTable(CheckReport report, TextWriter output)
    {
        var idWidth = Math.Max(5, report.Results.Max(r => (int?)r.Check.Id.Length) ?? 0);
        output.WriteLine($"idem-check: {report.Method} {report.Url}");
        output.WriteLine();
        output.WriteLine($"{"result",-6}  {"sev",-6}  {"check".PadRight(idWidth)}  detail");
        output.WriteLine($"{new string('-', 6)}  {new string('-', 6)}  {new string('-', idWidth)}  {new string('-', 40)}");
        foreach (var result in report.Results)
        {
            var outcome = result.Outcome switch { Outcome.Pass => "pass", Outcome.Fail => "FAIL", _ => "skip" };
            output.WriteLine($"{outcome,-6}  {Severity(result.Check),-6}  {result.Check.Id.PadRight(idWidth)}  {result.Detail}");
        }

        output.WriteLine();
        output.WriteLine($"{report.Count(Outcome.Pass)} passed, {report.Count(Outcome.Fail)} failed, {report.Count(Outcome.Skip)} skipped; {report.Requests} requests in {report.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s{(report.MustFailed ? "; a \"must\" check failed" : "")}");
    }

    /// <summary>The table for a person at a terminal: colours, and columns that wrap to its width.</summary>
    public static void WriteTable(CheckReport report, IAnsiConsole console)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape($"idem-check: {report.Method} {report.Url}"));
        table.AddColumn("result").AddColumn("severity").AddColumn("check").AddColumn("detail");
        foreach (var result in report.Results)
        {
            var outcome = result.Outcome switch
            {
                Outcome.Pass => "[green]pass[/]",
                Outcome.Fail => result.Check.Severity == Check.Severity.Must ? "[red bold]FAIL[/]" : "[yellow]FAIL[/]",
                _ => "[grey]skip[/]",
            };
            table.AddRow(outcome, Severity(result.Check), Markup.Escape(result.Check.Id), Markup.Escape(result.Detail));
        }

        console.Write(table);
        console.MarkupLine(Markup.Escape($"{report.Count(Outcome.Pass)} passed, {report.Count(Outcome.Fail)} failed, {report.Count(Outcome.Skip)} skipped; {report.Requests} requests in {report.Duration.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture)} s")
            + (report.MustFailed ? " [red bold]a \"must\" check failed[/]" : ""));
    }

    public static void WriteJson(CheckReport report, string path)
    {
        using var stream = File.Create(path);
        using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteString("method", report.Method);
        json.WriteString("url", report.Url);
        json.WriteString("startedAt", report.StartedAt);
        json.WriteNumber("durationMs", Math.Round(report.Duration.TotalMilliseconds));
        json.WriteNumber("requests", report.Requests);
        json.WriteNumber("passed", report.Count(Outcome.Pass));
        json.WriteNumber("failed", report.Count(Outcome.Fail));
        json.WriteNumber("skipped", report.Count(Outcome.Skip));
        json.WriteBoolean("mustFailed", report.MustFailed);
        json.WriteStartArray("checks");
        foreach (var result in report.Results)
        {
            json.WriteStartObject();
            json.WriteString("id", result.Check.Id);
            json.WriteString("meaning", result.Check.Meaning);
            json.WriteString("reference", result.Check.Reference);
            json.WriteString("severity", Severity(result.Check));
            json.WriteString("outcome", result.Outcome.ToString().ToLowerInvariant());
            json.WriteString("detail", result.Detail);
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }

    public static void WriteJUnit(CheckReport report, string path)
    {
        var suite = new XElement("testsuite",
            new XAttribute("name", "idem-check " + report.Url),
            new XAttribute("tests", report.Results.Count),
            new XAttribute("failures", report.Count(Outcome.Fail)),
            new XAttribute("skipped", report.Count(Outcome.Skip)),
            new XAttribute("time", report.Duration.TotalSeconds.ToString("0.000", CultureInfo.InvariantCulture)),
            new XAttribute("timestamp", report.StartedAt.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture)));
        foreach (var result in report.Results)
        {
            var testCase = new XElement("testcase",
                new XAttribute("classname", "idem-check." + Severity(result.Check)),
                new XAttribute("name", result.Check.Id),
                new XElement("system-out", $"{result.Check.Meaning} [{result.Check.Reference}]: {result.Detail}"));
            if (result.Outcome == Outcome.Fail)
            {
                testCase.AddFirst(new XElement("failure", new XAttribute("message", result.Detail), result.Check.Meaning));
            }
            else if (result.Outcome == Outcome.Skip)
            {
                testCase.AddFirst(new XElement("skipped", new XAttribute("message", result.Detail)));
            }

            suite.Add(testCase);
        }

        new XDocument(new XElement("testsuites", suite)).Save(path);
    }

    public static void WriteCatalog(TextWriter output)
    {
        foreach (var check in CheckCatalog.All)
        {
            output.WriteLine($"{check.Id,-24} {Severity(check),-6} {check.Meaning} [{check.Reference}]");
        }
    }

    private static string Severity(CheckInfo check) => check.Severity == Check.Severity.Must ? "must" : "should";
}
