using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Idem.Check;

/// <summary>Sends the requests of every selected check to one target and judges the answers.</summary>
internal sealed partial class CheckRunner : IDisposable
{
    private readonly Target _target;
    private readonly HttpClient _http;
    private readonly Func<CheckInfo, bool> _selected;
    private readonly TimeProvider _time;
    private readonly bool _dryRun;
    private readonly Action<string> _progress;
    private readonly bool _raw;
    private readonly DryRunHandler? _dryRunPrinter;
    private readonly List<CheckResult> _results = [];
    private readonly Dictionary<string, Reply> _errors = [];
    private int _requests;

    private static readonly string[] s_errorKinds = ["missing key", "invalid key", "key reuse", "request in progress"];

    /// <param name="target">The validated target.</param>
    /// <param name="handler">The HTTP handler; null for a real one (tests and the dry run pass their own).</param>
    /// <param name="only">Check ids to run; empty for all.</param>
    /// <param name="skip">Check ids not to run.</param>
    /// <param name="time">The clock; null for the system's.</param>
    /// <param name="dryRun">Whether the answers are fake (then the pause is not waited out).</param>
    /// <param name="progress">Told the name of each step as it starts.</param>
    public CheckRunner(Target target, HttpMessageHandler? handler = null, IReadOnlyCollection<string>? only = null, IReadOnlyCollection<string>? skip = null, TimeProvider? time = null, bool dryRun = false, Action<string>? progress = null)
    {
        _progress = progress ?? (_ => { });
        _target = target;
        _http = new HttpClient(handler ?? CreateHandler(), disposeHandler: handler is null) { Timeout = TimeSpan.FromSeconds(target.TimeoutSeconds) };
        // Requests HttpClient cannot make go on sockets of their own, but only to a real target: a handler of the
        // caller's own stands for the network, and the dry run prints them.
        _raw = handler is null;
        _dryRunPrinter = handler as DryRunHandler;
        _time = time ?? TimeProvider.System;
        _dryRun = dryRun;
        var unknown = (only ?? []).Concat(skip ?? []).Where(id => CheckCatalog.All.All(c => c.Id != id)).ToList();
        if (unknown.Count > 0)
        {
            throw new UsageException($"unknown check id: {string.Join(", ", unknown)} (--list shows them)");
        }

        _selected = c => (only is null || only.Count == 0 || only.Contains(c.Id)) && (skip is null || !skip.Contains(c.Id));
    }

    /// <summary>A handler that sends non-ASCII header values as UTF-8 (for the non-ASCII key) and never follows redirects.</summary>
    public static SocketsHttpHandler CreateHandler() => new()
    {
        AllowAutoRedirect = false,
        MaxConnectionsPerServer = Target.MaxConcurrency,
        RequestHeaderEncodingSelector = (_, _) => Encoding.UTF8,
    };

    public async Task<CheckReport> RunAsync(CancellationToken cancellationToken = default)
    {
        var started = _time.GetUtcNow();
        var timestamp = _time.GetTimestamp();
        _progress("[1/8] missing and invalid keys");
        await RunKeyChecksAsync(cancellationToken).ConfigureAwait(false);
        await RunTwoHeadersCheckAsync(cancellationToken).ConfigureAwait(false);
        _progress("[2/8] first call and replay");
        var first = await RunReplayChecksAsync(cancellationToken).ConfigureAwait(false);
        _progress("[3/8] same key, another request");
        await RunReuseChecksAsync(first, cancellationToken).ConfigureAwait(false);
        _progress($"[4/8] {_target.Concurrency} parallel duplicates");
        await RunConcurrentChecksAsync(cancellationToken).ConfigureAwait(false);
        _progress("[5/8] two callers, one key");
        await RunScopeCheckAsync(cancellationToken).ConfigureAwait(false);
        _progress("[6/8] a 5xx, then a retry");
        await RunServerErrorCheckAsync(cancellationToken).ConfigureAwait(false);
        _progress("[7/8] a dropped connection, then a retry");
        await RunDropCheckAsync(cancellationToken).ConfigureAwait(false);
        await RunHangUpCheckAsync(cancellationToken).ConfigureAwait(false);
        JudgeErrorBodies();
        _progress($"[8/8] the first key after {_target.PauseSeconds.ToString(CultureInfo.InvariantCulture)} s");
        await RunPauseCheckAsync(first, cancellationToken).ConfigureAwait(false);

        var ordered = _results.OrderBy(r => IndexOf(r.Check)).ToList();
        return new CheckReport(_target.Method, _target.Url!, started, _time.GetElapsedTime(timestamp), _requests, ordered);
    }

    public void Dispose() => _http.Dispose();

    private static int IndexOf(CheckInfo check)
    {
        for (var i = 0; i < CheckCatalog.All.Count; i++)
        {
            if (CheckCatalog.All[i] == check)
            {
                return i;
            }
        }

        return int.MaxValue;
    }

    private bool Any(params CheckInfo[] checks) => checks.Any(_selected);

    /// <summary>Whether to run <paramref name="check"/>: it is selected and the target offers what it needs (else a skip saying why).</summary>
    private bool Ready(CheckInfo check, bool available, string whyNot)
    {
        if (!_selected(check))
        {
            return false;
        }

        if (!available)
        {
            Record(check, Outcome.Skip, whyNot);
        }

        return available;
    }

    private void Record(CheckInfo check, Outcome outcome, string detail)
    {
        if (_selected(check))
        {
            _results.Add(new CheckResult(check, outcome, detail));
        }
    }

    private void Judge(CheckInfo check, bool pass, string detail) => Record(check, pass ? Outcome.Pass : Outcome.Fail, detail);

    // ---- the checks ----

    private async Task RunKeyChecksAsync(CancellationToken cancellationToken)
    {
        if (Any(CheckCatalog.KeyMissing, CheckCatalog.ErrorProblemJson, CheckCatalog.ErrorDistinctTypes))
        {
            if (!_target.RequiresKey)
            {
                Record(CheckCatalog.KeyMissing, Outcome.Skip, "the target does not require keys");
            }
            else
            {
                var reply = await SendAsync(NewOperation() with { Key = null }, cancellationToken: cancellationToken).ConfigureAwait(false);
                Judge(CheckCatalog.KeyMissing, reply.IsClientError, $"answered {reply.Answer}");
                KeepError("missing key", reply);
            }
        }

        var unique = Guid.NewGuid().ToString("N");
        var tooLong = (unique + new string('k', _target.MaxKeyLength))[..(_target.MaxKeyLength + 1)];
        (CheckInfo Check, string[] Values, bool Judged)[] invalid =
        [
            (CheckCatalog.KeyEmpty, [""], true),
            (CheckCatalog.KeyTooLong, [tooLong], true),
            // Servers and proxies often refuse these two at the HTTP layer, before the application sees them, with a
            // bare 400 of their own: a 4xx is what counts, the body is not judged.
            (CheckCatalog.KeyControl, ["k\u0001" + unique], false),
            (CheckCatalog.KeyNonAscii, ["k\u00e9" + unique], false),
            (CheckCatalog.KeyTwoValues, ["a-" + unique, "b-" + unique], true),
        ];
        foreach (var (check, values, judged) in invalid)
        {
            if (!Any(check, CheckCatalog.ErrorProblemJson, CheckCatalog.ErrorDistinctTypes) || (!judged && !_selected(check)))
            {
                continue;
            }

            var reply = await SendAsync(NewOperation(), keyValues: values, cancellationToken: cancellationToken).ConfigureAwait(false);
            if (reply.Failure is not null)
            {
                // A server or proxy may refuse such a header by closing the connection: not an acceptance, not a 4xx.
                Record(check, Outcome.Skip, $"answered {reply.Answer}");
                continue;
            }

            Judge(check, reply.IsClientError, $"answered {reply.Status}");
            if (judged)
            {
                KeepError("invalid key", reply);
            }
        }
    }

    private async Task<(Operation Operation, Reply Reply)?> RunReplayChecksAsync(CancellationToken cancellationToken)
    {
        var dependants = new[] { CheckCatalog.ReplayStatus, CheckCatalog.ReplayBody, CheckCatalog.ReplayHeaders, CheckCatalog.ReplayMarker, CheckCatalog.ReplayEffect, CheckCatalog.ExpiryStated };
        if (!Any([CheckCatalog.FirstCall, .. dependants, CheckCatalog.ReuseOtherBody, CheckCatalog.ReuseStatus422, CheckCatalog.KeyAfterPause, CheckCatalog.ErrorDistinctTypes, CheckCatalog.ErrorProblemJson]))
        {
            return null;
        }

        var operation = NewOperation();
        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var first = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        Judge(CheckCatalog.FirstCall, first.IsSuccess, first.IsSuccess ? $"answered {first.Status}" : $"answered {first.Answer}: {Excerpt(first.Body)}");
        if (!first.IsSuccess)
        {
            foreach (var check in dependants)
            {
                Record(check, Outcome.Skip, "the first call did not succeed");
            }

            return null;
        }

        var retry = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        Judge(CheckCatalog.ReplayStatus, retry.Status == first.Status, $"first {first.Status}, retry {retry.Status}");
        Judge(CheckCatalog.ReplayBody, retry.Body.AsSpan().SequenceEqual(first.Body), retry.Body.AsSpan().SequenceEqual(first.Body)
            ? $"{first.Body.Length} bytes, identical"
            : $"first {first.Body.Length} bytes, retry {retry.Body.Length} bytes, different");
        Judge(CheckCatalog.ReplayHeaders, retry.Location == first.Location && retry.ContentType == first.ContentType,
            $"Location {Show(first.Location)} -> {Show(retry.Location)}; Content-Type {Show(first.ContentType)} -> {Show(retry.ContentType)}");
        Judge(CheckCatalog.ReplayMarker, retry.Replayed, retry.Replayed ? "Idempotent-Replayed: true" : "no Idempotent-Replayed: true on the retry");
        JudgeEffects(CheckCatalog.ReplayEffect, before, after, 1, "first call and retry");
        JudgeExpiry(first, retry);
        return (operation, first);
    }

    private async Task RunReuseChecksAsync((Operation Operation, Reply Reply)? first, CancellationToken cancellationToken)
    {
        if (!Any(CheckCatalog.ReuseOtherBody, CheckCatalog.ReuseStatus422, CheckCatalog.ErrorProblemJson, CheckCatalog.ErrorDistinctTypes))
        {
            return;
        }

        var hasOtherBody = _target.OtherBody is not null || (_target.Body ?? "").Contains(Target.UniquePlaceholder, StringComparison.Ordinal);
        if (first is not { } original || !hasOtherBody)
        {
            var why = first is null ? "the first call did not succeed" : "the body template has no {{unique}} and there is no --other-body";
            Record(CheckCatalog.ReuseOtherBody, Outcome.Skip, why);
            Record(CheckCatalog.ReuseStatus422, Outcome.Skip, why);
            return;
        }

        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var other = _target.OtherBody is { } otherBody ? new Operation(original.Operation.Key, otherBody) : NewOperation() with { Key = original.Operation.Key };
        var reply = await SendAsync(other, cancellationToken: cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var ran = before is not null && after is not null && after != before;
        Judge(CheckCatalog.ReuseOtherBody, reply.IsClientError && !reply.SameAnswer(original.Reply) && !ran,
            $"answered {reply.Status}{(reply.SameAnswer(original.Reply) ? " with the first request's answer" : "")}{(ran ? $", effects {before} -> {after}" : "")}");
        Judge(CheckCatalog.ReuseStatus422, reply.Status == 422, $"answered {reply.Status}");
        KeepError("key reuse", reply);
    }

    private async Task RunConcurrentChecksAsync(CancellationToken cancellationToken)
    {
        if (!Any(CheckCatalog.ConcurrentEffect, CheckCatalog.ConcurrentAnswers, CheckCatalog.ConcurrentRetryAfter))
        {
            return;
        }

        var operation = NewOperation();
        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sends = Enumerable.Range(0, _target.Concurrency).Select(async _ =>
        {
            await gate.Task.ConfigureAwait(false);
            return await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        }).ToList();
        gate.SetResult();
        var replies = await Task.WhenAll(sends).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);

        var statuses = string.Join(", ", replies.GroupBy(r => r.Failure is null ? r.Status.ToString(CultureInfo.InvariantCulture) : "no answer").OrderBy(g => g.Key, StringComparer.Ordinal).Select(g => $"{g.Count()}x {g.Key}"));
        var distinctSuccesses = replies.Where(r => r.IsSuccess).Select(r => Convert.ToBase64String(r.Body)).Distinct().Count();
        if (before is not null && after is not null)
        {
            Judge(CheckCatalog.ConcurrentEffect, after - before == 1, $"{_target.Concurrency} parallel requests, effects {before} -> {after}");
        }
        else
        {
            Judge(CheckCatalog.ConcurrentEffect, distinctSuccesses <= 1, $"{_target.Concurrency} parallel requests, {distinctSuccesses} distinct 2xx bodies (no effects URL: judged by answers)");
        }

        var winner = replies.FirstOrDefault(r => r.IsSuccess && !r.Replayed) ?? replies.FirstOrDefault(r => r.IsSuccess);
        var odd = winner is null ? replies.Length : replies.Count(r => r.Status != 409 && !r.SameAnswer(winner));
        Judge(CheckCatalog.ConcurrentAnswers, winner is not null && odd == 0, $"{statuses}; {odd} neither the first answer nor 409");

        var conflicts = replies.Where(r => r.Status == 409).ToList();
        if (conflicts.Count == 0)
        {
            Record(CheckCatalog.ConcurrentRetryAfter, Outcome.Skip, "no request was answered 409");
        }
        else
        {
            var without = conflicts.Count(r => string.IsNullOrEmpty(r.RetryAfter));
            Judge(CheckCatalog.ConcurrentRetryAfter, without == 0, $"{conflicts.Count}x 409, {without} without Retry-After");
            KeepError("request in progress", conflicts[0]);
        }
    }

    private async Task RunScopeCheckAsync(CancellationToken cancellationToken)
    {
        if (!Ready(CheckCatalog.CallerScope, _target.CallerB is { Count: > 0 }, "no second caller (--caller-b)"))
        {
            return;
        }

        var callerB = _target.CallerB!;

        var operation = NewOperation();
        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var a = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        var b = await SendAsync(operation, caller: callerB, cancellationToken: cancellationToken).ConfigureAwait(false);
        var aAgain = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);

        var problems = new List<string>();
        if (!a.IsSuccess || !b.IsSuccess)
        {
            problems.Add($"caller A answered {a.Status}, caller B {b.Status}");
        }

        if (b.Replayed)
        {
            problems.Add("caller B got a replay");
        }

        if (!aAgain.Body.AsSpan().SequenceEqual(a.Body))
        {
            problems.Add("caller A's retry did not answer caller A's first body");
        }

        if (before is not null && after is not null && after - before != 2)
        {
            problems.Add($"effects {before} -> {after}, expected two");
        }

        Judge(CheckCatalog.CallerScope, problems.Count == 0, problems.Count == 0 ? "caller B ran on its own; caller A's retry replayed A's answer" : string.Join("; ", problems));
    }

    private async Task RunServerErrorCheckAsync(CancellationToken cancellationToken)
    {
        if (!Ready(CheckCatalog.ServerErrorNotStored, _target.FaultHeaders is { Count: > 0 }, "no fault headers (--fault-header) to make the target answer a 5xx"))
        {
            return;
        }

        var fault = _target.FaultHeaders!;

        var operation = NewOperation();
        var failed = await SendAsync(operation, extra: fault, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (failed.Failure is not null || failed.Status < 500)
        {
            Record(CheckCatalog.ServerErrorNotStored, Outcome.Skip, $"the fault headers did not produce a 5xx (answered {failed.Answer})");
            return;
        }

        // Ran again: a 2xx that is not a replay and, by the effects URL when there is one, made an effect of its own (a
        // replay that forgot its marker adds none).
        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var retry = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var ranAgain = retry.IsSuccess && !retry.Replayed && (before is null || after is null || after - before == 1);
        Judge(CheckCatalog.ServerErrorNotStored, ranAgain,
            $"first {failed.Status}, retry without the fault {retry.Answer}{(retry.Replayed ? " (replayed)" : "")}{(before is not null && after is not null ? $", effects {before} -> {after}" : "")}");
    }

    private void JudgeErrorBodies()
    {
        if (_errors.Count == 0)
        {
            Record(CheckCatalog.ErrorProblemJson, Outcome.Skip, "no 4xx answers to judge");
            Record(CheckCatalog.ErrorDistinctTypes, Outcome.Skip, "no 4xx answers to judge");
            return;
        }

        var types = new Dictionary<string, string?>();
        var bad = new List<string>();
        foreach (var (kind, reply) in _errors)
        {
            var type = ProblemType(reply);
            types[kind] = type;
            if (type is null)
            {
                bad.Add($"{kind}: {Show(reply.ContentType)}");
            }
        }

        Judge(CheckCatalog.ErrorProblemJson, bad.Count == 0, bad.Count == 0 ? $"{_errors.Count} kinds, all problem+json with a type" : "not problem+json with a type: " + string.Join("; ", bad));

        var kinds = s_errorKinds.Where(types.ContainsKey).ToList();
        if (kinds.Count < 2)
        {
            Record(CheckCatalog.ErrorDistinctTypes, Outcome.Skip, "fewer than two kinds of error seen");
            return;
        }

        var distinct = kinds.Select(k => types[k]).Distinct().Count();
        Judge(CheckCatalog.ErrorDistinctTypes, distinct == kinds.Count && kinds.All(k => types[k] is not null),
            string.Join("; ", kinds.Select(k => $"{k}: {types[k] ?? "(none)"}")));
    }

    private async Task RunPauseCheckAsync((Operation Operation, Reply Reply)? first, CancellationToken cancellationToken)
    {
        if (!Any(CheckCatalog.KeyAfterPause))
        {
            return;
        }

        if (first is not { } original)
        {
            Record(CheckCatalog.KeyAfterPause, Outcome.Skip, "the first call did not succeed");
            return;
        }

        if (!_dryRun)
        {
            await Task.Delay(TimeSpan.FromSeconds(_target.PauseSeconds), _time, cancellationToken).ConfigureAwait(false);
        }

        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var reply = await SendAsync(original.Operation, cancellationToken: cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var ran = before is not null && after is not null && after != before;
        Judge(CheckCatalog.KeyAfterPause, reply.SameAnswer(original.Reply) && !ran,
            $"after {_target.PauseSeconds.ToString(CultureInfo.InvariantCulture)} s: answered {reply.Status}{(reply.SameAnswer(original.Reply) ? ", the first answer" : ", not the first answer")}{(ran ? $", effects {before} -> {after}" : "")}");
    }

    private void JudgeEffects(CheckInfo check, long? before, long? after, long expected, string what)
    {
        if (before is null || after is null)
        {
            Record(check, Outcome.Skip, _target.EffectsUrl is null ? "no effects URL (--effects-url)" : "the effects URL gave no count");
            return;
        }

        Judge(check, after - before == expected, $"{what}: effects {before} -> {after}");
    }

    private void KeepError(string kind, Reply reply)
    {
        if (reply.IsClientError)
        {
            _errors.TryAdd(kind, reply);
        }
    }

    private static string? ProblemType(Reply reply)
    {
        if (reply.ContentType is null || !reply.ContentType.StartsWith("application/problem+json", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(reply.Body);
            return document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
                ? type.GetString()
                : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static string Excerpt(byte[] body)
    {
        var text = Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 160)));
        return body.Length > 160 ? text + "..." : text;
    }

    private static string Show(string? value) => value is null ? "(none)" : value;
}
