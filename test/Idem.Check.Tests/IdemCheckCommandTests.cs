using Xunit.Abstractions;
using System.Text.Json;
using System.Xml.Linq;
using Idem.Check.Tests.Infrastructure;

namespace Idem.Check.Tests;

/// <summary>The command line: exit codes, reports, selection and the dry run.</summary>
public sealed class IdemCheckCommandTests(ITestOutputHelper log) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("idem-check-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string[] Args(Uri baseAddress, params string[] more) =>
    [
        "--url", new Uri(baseAddress, "/orders").ToString(),
        "--body", """{"item":"book","ref":"{{unique}}"}""",
        "--caller-a", "X-Api-Key: caller-a",
        "--caller-b", "X-Api-Key: caller-b",
        "--effects-url", new Uri(baseAddress, "/effects").ToString(),
        "--fault-header", "X-Fail: 1",
        "--drop-header", "X-Drop: 1",
        "--pause", "0.2",
        .. more,
    ];

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await IdemCheckCommand.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public async Task Run_IdemApp_ExitsZeroAndWritesBothReports()
    {
        await using var app = await IdemApp.StartAsync();
        var json = Path.Combine(_directory, "report.json");
        var junit = Path.Combine(_directory, "report.xml");

        var (code, output, error) = await RunAsync(Args(app.BaseAddress, "--json", json, "--junit", junit));
        log.WriteLine(output);

        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("real effects", error, StringComparison.Ordinal);
        Assert.Contains("idem-check: [4/8] 10 parallel duplicates", error, StringComparison.Ordinal);
        Assert.Contains("26 passed, 0 failed, 0 skipped", output, StringComparison.Ordinal);
        using var document = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(26, document.RootElement.GetProperty("checks").GetArrayLength());
        Assert.False(document.RootElement.GetProperty("mustFailed").GetBoolean());
        var suite = XDocument.Load(junit).Root!.Element("testsuite")!;
        Assert.Equal("26", suite.Attribute("tests")!.Value);
        Assert.Equal("0", suite.Attribute("failures")!.Value);
    }

    [Fact]
    public async Task Run_MustCheckFails_ExitsOneAndReportsTheFailure()
    {
        await using var app = await FixtureApp.StartAsync(Flaw.NoScope);
        var junit = Path.Combine(_directory, "report.xml");

        var (code, output, _) = await RunAsync(Args(app.BaseAddress, "--only", "caller-scope,first-call", "--junit", junit));

        Assert.Equal(IdemCheckCommand.MustFailed, code);
        Assert.Contains("FAIL    must    caller-scope", output, StringComparison.Ordinal);
        var failed = XDocument.Load(junit).Descendants("testcase").Single(t => t.Element("failure") is not null);
        Assert.Equal("caller-scope", failed.Attribute("name")!.Value);
    }

    [Fact]
    public async Task Run_OnlyAShouldCheckFails_ExitsZero()
    {
        await using var app = await FixtureApp.StartAsync(Flaw.Stored5xx);

        var (code, output, _) = await RunAsync(Args(app.BaseAddress, "--skip", "concurrent-one-effect,concurrent-answers,concurrent-retry-after"));

        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("FAIL    should  server-error-not-stored", output, StringComparison.Ordinal);
        Assert.DoesNotContain("concurrent-", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_DryRun_PrintsTheRequestsAndSendsNothing()
    {
        await using var app = await FixtureApp.StartAsync(Flaw.None);

        var (code, output, _) = await RunAsync(Args(app.BaseAddress, "--dry-run", "--only", "replay-body"));

        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("POST " + new Uri(app.BaseAddress, "/orders"), output, StringComparison.Ordinal);
        Assert.Contains("Idempotency-Key: idem-check-", output, StringComparison.Ordinal);
        Assert.Contains("nothing was sent", output, StringComparison.Ordinal);
        Assert.Equal(0, await new HttpClient().GetFromJsonAsync<int>(new Uri(app.BaseAddress, "/effects")));
    }

    [Fact]
    public async Task Run_DryRun_PrintsTheSocketRequestsAsTheyGoOnTheWire()
    {
        await using var app = await FixtureApp.StartAsync(Flaw.None);

        var (code, output, _) = await RunAsync(Args(app.BaseAddress, "--dry-run", "--only", "key-two-headers,client-hang-up"));

        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("POST /orders HTTP/1.1 (on a connection of its own, each header on its own line)", output, StringComparison.Ordinal);
        Assert.Matches(@"  Idempotency-Key: a-\w+\r?\n  Idempotency-Key: b-\w+", output);
        Assert.Contains("then hangs up (a reset) after 50 ms", output, StringComparison.Ordinal);
        Assert.Equal(0, await new HttpClient().GetFromJsonAsync<int>(new Uri(app.BaseAddress, "/effects")));
    }

    [Theory]
    [InlineData("--only", "no-such-check")]
    [InlineData("--concurrency", "50")]
    [InlineData("--hang-up-after", "0")]
    [InlineData("--bogus", "1")]
    public async Task Run_BadArguments_ExitsTwo(string name, string value)
    {
        var (code, _, error) = await RunAsync("--url", "http://127.0.0.1:9/orders", name, value);

        Assert.Equal(IdemCheckCommand.UsageError, code);
        Assert.StartsWith("idem-check: ", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_TargetFile_IsReadAndOptionsOverrideIt()
    {
        await using var app = await IdemApp.StartAsync();
        var target = Path.Combine(_directory, "target.json");
        File.WriteAllText(target, $$"""
            {
              // comments are allowed
              "url": "http://127.0.0.1:9/nowhere",
              "body": "{\"ref\":\"{{Target.UniquePlaceholder}}\"}",
              "callerA": { "X-Api-Key": "caller-a" },
              "effectsUrl": "{{new Uri(app.BaseAddress, "/effects")}}"
            }
            """);

        var (code, output, _) = await RunAsync("--target", target, "--url", new Uri(app.BaseAddress, "/orders").ToString(), "--only", "replay-effect,replay-body");

        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("pass    must    replay-effect", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_YamlTargetFile_IsReadLikeJson()
    {
        await using var app = await IdemApp.StartAsync();
        var target = Path.Combine(_directory, "target.yaml");
        File.WriteAllText(target, $$"""
            # the same members as the JSON file, in YAML
            method: POST
            url: {{new Uri(app.BaseAddress, "/orders")}}
            body: '{"ref":"{{Target.UniquePlaceholder}}"}'
            callerA:
              X-Api-Key: caller-a
            callerB: { X-Api-Key: caller-b }
            effectsUrl: {{new Uri(app.BaseAddress, "/effects")}}
            faultHeaders:
              X-Fail: 1
            concurrency: 3
            pauseSeconds: 0.1
            requiresKey: true
            otherBody: null
            """);

        var invocation = IdemCheckCommand.Parse(["--target", target]);
        var (code, output, _) = await RunAsync("--target", target, "--only", "replay-effect,caller-scope,server-error-not-stored,concurrent-one-effect");

        Assert.Equal(3, invocation.Target.Concurrency);
        Assert.Equal(0.1, invocation.Target.PauseSeconds);
        Assert.Equal("1", invocation.Target.FaultHeaders!["X-Fail"]);
        Assert.Equal("caller-b", invocation.Target.CallerB!["X-Api-Key"]);
        Assert.Null(invocation.Target.OtherBody);
        Assert.Equal(IdemCheckCommand.Passed, code);
        Assert.Contains("4 passed, 0 failed, 0 skipped", output, StringComparison.Ordinal);
        Assert.Contains("3 parallel requests", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("json")]
    [InlineData("yaml")]
    public void Parse_TargetFileOfTheDocs_ReadsEveryMember(string language)
    {
        var root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "Idem.slnx")))
        {
            root = Path.GetDirectoryName(root) ?? throw new InvalidOperationException("no Idem.slnx above the test's directory");
        }

        var docs = File.ReadAllText(Path.Combine(root, "docs", "idem-check.md"));
        var start = docs.IndexOf($"```{language}\n", StringComparison.Ordinal) + language.Length + 4;
        var target = Path.Combine(_directory, "target." + language);
        File.WriteAllText(target, docs[start..docs.IndexOf("```", start, StringComparison.Ordinal)]);

        var parsed = IdemCheckCommand.Parse(["--target", target]).Target;

        Assert.Equal("http://localhost:5000/v1/orders", parsed.Url);
        Assert.Equal("""{"sku":"A1","ref":"{{unique}}"}""", parsed.Body);
        Assert.Equal("key-b", parsed.CallerB!["X-Api-Key"]);
        Assert.Equal("1", parsed.FaultHeaders!["X-Fail"]);
        Assert.Equal("1", parsed.DropHeaders!["X-Drop"]);
        Assert.Equal(2, parsed.PauseSeconds);
    }

    [Theory]
    [InlineData("target.yaml", "url: http://127.0.0.1:9/orders\nconcurency: 3\n", "concurency")]
    [InlineData("target.yml", "url: http://127.0.0.1:9/orders\nconcurrency: many\n", "line 2")]
    [InlineData("target.yaml", "url: [unclosed\n", "line")]
    public async Task Run_BadYamlTargetFile_ExitsTwoAndSaysWhere(string name, string yaml, string expected)
    {
        var target = Path.Combine(_directory, name);
        File.WriteAllText(target, yaml);

        var (code, _, error) = await RunAsync("--target", target);

        Assert.Equal(IdemCheckCommand.UsageError, code);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }
}
