using System.Globalization;
using Spectre.Console;

namespace Idem.Check;

/// <summary>The command line: reads the target, runs the checks, writes the reports, and answers the exit code.</summary>
internal static class IdemCheckCommand
{
    public const int Passed = 0;
    public const int MustFailed = 1;
    public const int UsageError = 2;

    private const string Usage = """
        idem-check: tests whether an HTTP API keeps the Idempotency-Key contract.

        WARNING: it sends real requests that create real effects. Point it at a test environment only.

        usage: idem-check [--target FILE] [options]
          --target FILE          a JSON or YAML (.yaml, .yml) target description (options below override it)
          --url URL              the operation to test
          --method METHOD        default POST
          --header "N: V"        a header on every request (repeatable)
          --body TEXT            body template; {{unique}} becomes a fresh value per operation
          --other-body TEXT      a second body for the key-reuse checks (when the body has no {{unique}})
          --content-type TYPE    default application/json
          --key-header NAME      default Idempotency-Key
          --optional-key         the target does not require keys (skips key-missing)
          --max-key-length N     default 255
          --caller-a "N: V"      caller A's auth header (repeatable)
          --caller-b "N: V"      caller B's auth header (repeatable; enables caller-scope)
          --effects-url URL      GET answering the effect count (number, array, or {"count": n})
          --effects-path PATH    dotted path to the count in the effects answer (balances.posted)
          --fault-header "N: V"  a header that makes the target answer 5xx (enables server-error-not-stored)
          --drop-header "N: V"   a header that makes the target break off its answer mid-response (enables drop-not-stored)
          --hang-up-after SECS   how long client-hang-up waits before it resets the connection, default 0.05
          --expiry-header NAME   the response header that states how long a key is kept (expiry-stated)
          --concurrency N        parallel duplicates, 2-20, default 10
          --pause SECONDS        wait before key-after-pause, default 2
          --timeout SECONDS      per request, default 30
          --only ID,ID           run only these checks
          --skip ID,ID           do not run these checks
          --json FILE            write a JSON report
          --junit FILE           write a JUnit XML report
          --dry-run              print the requests it would send; send nothing
          --list                 list the checks
        exit code: 0 when no "must" check failed, 1 when one did, 2 on a usage error.
        """;

    /// <summary>Runs the tool as the command line would, with a real HTTP handler unless one is given.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, HttpMessageHandler? handler = null, CancellationToken cancellationToken = default)
    {
        Invocation invocation;
        try
        {
            invocation = Parse(args);
        }
        catch (Exception e) when (e is UsageException or IOException or UnauthorizedAccessException or System.Text.Json.JsonException)
        {
            await error.WriteLineAsync($"idem-check: {e.Message}").ConfigureAwait(false);
            await error.WriteLineAsync("idem-check --help shows the options").ConfigureAwait(false);
            return UsageError;
        }

        if (invocation.Help)
        {
            await output.WriteLineAsync(Usage).ConfigureAwait(false);
            return Passed;
        }

        if (invocation.List)
        {
            Reports.WriteCatalog(output);
            return Passed;
        }

        // Plain text wherever the output is read by a program (a pipe, a file, a CI log, a test).
        var interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
        CheckReport report;
        try
        {
            if (invocation.DryRun)
            {
                await output.WriteLineAsync("dry run: the requests idem-check would send (answers faked as empty 200s)").ConfigureAwait(false);
                using var dry = new DryRunHandler(output);
                using var runner = new CheckRunner(invocation.Target, dry, invocation.Only, invocation.Skip, dryRun: true);
                report = await runner.RunAsync(cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync($"dry run: {report.Requests} requests; nothing was sent").ConfigureAwait(false);
                return Passed;
            }

            await error.WriteLineAsync("idem-check sends real requests that create real effects: use a test environment only.").ConfigureAwait(false);
            if (interactive)
            {
                // A person at a terminal: a live status line while it runs, then a table sized to the terminal.
                report = await AnsiConsole.Status().StartAsync("starting", async status =>
                {
                    using var live = new CheckRunner(invocation.Target, handler, invocation.Only, invocation.Skip, progress: step => status.Status(Markup.Escape(step)));
                    return await live.RunAsync(cancellationToken).ConfigureAwait(false);
                }).ConfigureAwait(false);
            }
            else
            {
                using var live = new CheckRunner(invocation.Target, handler, invocation.Only, invocation.Skip, progress: step => error.WriteLine("idem-check: " + step));
                report = await live.RunAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (UsageException e)
        {
            await error.WriteLineAsync($"idem-check: {e.Message}").ConfigureAwait(false);
            return UsageError;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or InvalidOperationException)
        {
            await error.WriteLineAsync($"idem-check: the run stopped: {e.Message}").ConfigureAwait(false);
            return MustFailed;
        }

        if (interactive)
        {
            Reports.WriteTable(report, AnsiConsole.Console);
        }
        else
        {
            Reports.WriteTable(report, output);
        }

        if (invocation.JsonPath is not null)
        {
            Reports.WriteJson(report, invocation.JsonPath);
        }

        if (invocation.JUnitPath is not null)
        {
            Reports.WriteJUnit(report, invocation.JUnitPath);
        }

        return report.MustFailed ? MustFailed : Passed;
    }

    internal sealed record Invocation(Target Target, List<string> Only, List<string> Skip, string? JsonPath, string? JUnitPath, bool DryRun, bool List, bool Help);

    internal static Invocation Parse(string[] args)
    {
        var targetIndex = Array.IndexOf(args, "--target");
        var target = targetIndex >= 0 && targetIndex + 1 < args.Length ? Target.Load(args[targetIndex + 1]) : new Target();
        var only = new List<string>();
        var skip = new List<string>();
        string? json = null, junit = null;
        bool dryRun = false, list = false, help = false;
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            string Value() => i + 1 < args.Length ? args[++i] : throw new UsageException($"{name} needs a value");
            switch (name)
            {
                case "--target": Value(); break;
                case "--url": target.Url = Value(); break;
                case "--method": target.Method = Value().ToUpperInvariant(); break;
                case "--header": AddHeader(target.Headers, Value()); break;
                case "--body": target.Body = Value(); break;
                case "--other-body": target.OtherBody = Value(); break;
                case "--content-type": target.ContentType = Value(); break;
                case "--key-header": target.KeyHeader = Value(); break;
                case "--optional-key": target.RequiresKey = false; break;
                case "--max-key-length": target.MaxKeyLength = Number(name, Value()); break;
                case "--caller-a": AddHeader(target.CallerA, Value()); break;
                case "--caller-b": AddHeader(target.CallerB ??= [], Value()); break;
                case "--effects-url": target.EffectsUrl = Value(); break;
                case "--effects-path": target.EffectsPath = Value(); break;
                case "--fault-header": AddHeader(target.FaultHeaders ??= [], Value()); break;
                case "--drop-header": AddHeader(target.DropHeaders ??= [], Value()); break;
                case "--expiry-header": target.ExpiryHeader = Value(); break;
                case "--hang-up-after": target.HangUpSeconds = Seconds(name, Value()); break;
                case "--concurrency": target.Concurrency = Number(name, Value()); break;
                case "--pause": target.PauseSeconds = Seconds(name, Value()); break;
                case "--timeout": target.TimeoutSeconds = Seconds(name, Value()); break;
                case "--only": only.AddRange(Ids(Value())); break;
                case "--skip": skip.AddRange(Ids(Value())); break;
                case "--json": json = Value(); break;
                case "--junit": junit = Value(); break;
                case "--dry-run": dryRun = true; break;
                case "--list": list = true; break;
                case "--help" or "-h": help = true; break;
                default: throw new UsageException($"unknown option {name}");
            }
        }

        var unknown = only.Concat(skip).Where(id => CheckCatalog.All.All(c => c.Id != id)).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"unknown check id: {string.Join(", ", unknown)} (--list shows them)");
        }

        if (!help && !list && target.Validate() is { } problem)
        {
            throw new UsageException(problem);
        }

        return new Invocation(target, only, skip, json, junit, dryRun, list, help);
    }

    private static void AddHeader(Dictionary<string, string> headers, string header)
    {
        var colon = header.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new UsageException($"a header is \"Name: value\", not \"{header}\"");
        }

        headers[header[..colon].Trim()] = header[(colon + 1)..].Trim();
    }

    private static int Number(string name, string value)
        => int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) ? number : throw new UsageException($"{name} needs a whole number");

    private static double Seconds(string name, string value)
        => double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) && seconds >= 0 ? seconds : throw new UsageException($"{name} needs a number of seconds");

    private static string[] Ids(string value) => value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
