using System.Globalization;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Idem.Check;

/// <summary>The checks that need more than a well-formed exchange: two key header lines, an answer broken off, a client that hangs up.</summary>
internal sealed partial class CheckRunner
{
    /// <summary>Retries the hang-up check sends while the answer is 409 (the first request still running), at most; it also stops once the request timeout has passed.</summary>
    private const int MaxConflictRetries = 20;

    /// <summary>Retries the drop check sends while the answer is 409: a key held for the broken request passes it, so a few tell enough.</summary>
    private const int MaxDropConflictRetries = 3;

    private async Task RunTwoHeadersCheckAsync(CancellationToken cancellationToken)
    {
        if (!_selected(CheckCatalog.KeyTwoHeaders))
        {
            return;
        }

        var unique = Guid.NewGuid().ToString("N");
        var reply = await SendRawAsync(NewOperation(), ["a-" + unique, "b-" + unique], cancellationToken).ConfigureAwait(false);
        if (reply.Failure is not null)
        {
            // A server or proxy may refuse a repeated header by closing the connection: not an acceptance, not a 4xx.
            Record(CheckCatalog.KeyTwoHeaders, Outcome.Skip, $"answered {reply.Answer}");
            return;
        }

        Judge(CheckCatalog.KeyTwoHeaders, reply.IsClientError, $"two {_target.KeyHeader} lines: answered {reply.Status}{(reply.IsSuccess ? ", so one of the keys was chosen" : "")}");
        KeepError("two key headers", reply);
    }

    private async Task RunDropCheckAsync(CancellationToken cancellationToken)
    {
        if (!Ready(CheckCatalog.DropNotStored, _target.DropHeaders is { Count: > 0 }, "no drop headers (--drop-header) to make the target break off an answer"))
        {
            return;
        }

        var operation = NewOperation();
        var dropped = await SendAsync(operation, extra: _target.DropHeaders, cancellationToken: cancellationToken).ConfigureAwait(false);
        if (dropped.Failure is null && !_dryRun)
        {
            Record(CheckCatalog.DropNotStored, Outcome.Skip, $"the drop headers did not break off the answer (answered {dropped.Status})");
            return;
        }

        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var (retry, conflicts) = await SendUntilSettledAsync(operation, MaxDropConflictRetries, cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);

        // Ran again: a 2xx that is not a replay and, by the effects URL when there is one, made an effect of its own. A 409
        // says the key is still held for the broken request: not stored as its answer either.
        var ranAgain = retry.IsSuccess && !retry.Replayed && (before is null || after is null || after - before == 1);
        Judge(CheckCatalog.DropNotStored, ranAgain || retry.Status == 409,
            $"first broken off ({dropped.Failure}); retry without the drop headers {retry.Answer}{(retry.Replayed ? " (replayed)" : "")}" +
            $"{Conflicts(conflicts)}{(before is not null && after is not null ? $", effects {before} -> {after}" : "")}");
    }

    private async Task RunHangUpCheckAsync(CancellationToken cancellationToken)
    {
        if (!_selected(CheckCatalog.ClientHangUp))
        {
            return;
        }

        if (!_raw && !_dryRun)
        {
            Record(CheckCatalog.ClientHangUp, Outcome.Skip, "needs a real connection to hang up on");
            return;
        }

        var operation = NewOperation();
        var before = await EffectsAsync(cancellationToken).ConfigureAwait(false);
        var (url, request) = FormatRaw(operation, operation.Key is null ? [] : [operation.Key]);
        CountRequest();
        var hangUpAfter = TimeSpan.FromSeconds(_target.HangUpSeconds);
        bool answerBegun;
        if (_dryRunPrinter is not null)
        {
            _dryRunPrinter.Print(request, $"then hangs up (a reset) after {hangUpAfter.TotalMilliseconds.ToString(CultureInfo.InvariantCulture)} ms");
            answerBegun = false;
        }
        else
        {
            try
            {
                answerBegun = await RawHttp.SendAndHangUpAsync(url, request, hangUpAfter, TimeSpan.FromSeconds(_target.TimeoutSeconds), cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or IOException or AuthenticationException || (e is OperationCanceledException && !cancellationToken.IsCancellationRequested))
            {
                Record(CheckCatalog.ClientHangUp, Outcome.Skip, $"could not send the request: {e.Message}");
                return;
            }
        }

        var (retry, conflicts) = await SendUntilSettledAsync(operation, MaxConflictRetries, cancellationToken).ConfigureAwait(false);
        var after = await EffectsAsync(cancellationToken).ConfigureAwait(false);

        var problems = new List<string>();
        if (retry.Status == 409)
        {
            problems.Add($"the first run had not finished, or its key was still held, {_target.TimeoutSeconds.ToString(CultureInfo.InvariantCulture)} s on");
        }
        else if (!retry.IsSuccess)
        {
            problems.Add(retry.Replayed ? "the dropped request's answer was stored and replayed" : "not a 2xx");
        }

        if (before is not null && after is not null && after - before != 1)
        {
            problems.Add($"effects {before} -> {after}, expected one{(after - before > 1 ? ": it ran again" : "")}");
        }

        var effects = before is not null && after is not null ? $", effects {before} -> {after}" : "";
        var told = $"hung up {(answerBegun ? "after the answer had begun" : "before any answer")}; the retry answered {retry.Answer}" +
            $"{(retry.IsSuccess ? retry.Replayed ? " (the first run, replayed)" : " (run now)" : "")}{Conflicts(conflicts)}";
        Judge(CheckCatalog.ClientHangUp, problems.Count == 0, problems.Count == 0 ? told + effects : $"{told}: {string.Join("; ", problems)}");
    }

    private static string Conflicts(int count) => count == 0 ? "" : $" after {count}x 409";

    /// <summary>
    /// Sends <paramref name="operation"/> again while the answer is 409, waiting out its Retry-After: at most
    /// <paramref name="maxRetries"/> times, and not past the request timeout.
    /// </summary>
    private async Task<(Reply Reply, int Conflicts)> SendUntilSettledAsync(Operation operation, int maxRetries, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        for (var conflicts = 0; ; conflicts++)
        {
            var reply = await SendAsync(operation, cancellationToken: cancellationToken).ConfigureAwait(false);
            var delay = RetryDelay(reply.RetryAfter);
            if (reply.Status != 409 || conflicts == maxRetries || _dryRun || _time.GetElapsedTime(started) + delay > TimeSpan.FromSeconds(_target.TimeoutSeconds))
            {
                return (reply, conflicts);
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    // Retry-After in seconds, held between half a second and three so the check neither hammers nor dawdles.
    private static TimeSpan RetryDelay(string? retryAfter)
        => double.TryParse(retryAfter, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(Math.Clamp(seconds, 0.5, 3))
            : TimeSpan.FromSeconds(1);

    /// <summary>Sends a request with every key value on a header line of its own (HttpClient would join them into one).</summary>
    private async Task<Reply> SendRawAsync(Operation operation, string[] keyValues, CancellationToken cancellationToken)
    {
        if (!_raw && _dryRunPrinter is null)
        {
            // A handler of the caller's own: the nearest it can be told.
            return await SendAsync(operation, keyValues: keyValues, cancellationToken: cancellationToken).ConfigureAwait(false);
        }

        CountRequest();
        var (url, request) = FormatRaw(operation, keyValues);
        if (_dryRunPrinter is not null)
        {
            _dryRunPrinter.Print(request, "on a connection of its own, each header on its own line");
            return new Reply(200, [], null, null, Replayed: false, RetryAfter: null);
        }

        return await RawHttp.SendAsync(url, request, TimeSpan.FromSeconds(_target.TimeoutSeconds), cancellationToken).ConfigureAwait(false);
    }

    private (Uri Url, byte[] Request) FormatRaw(Operation operation, string[] keyValues)
    {
        var url = new Uri(_target.Url!);
        var headers = _target.Headers.Concat(_target.CallerA).Concat(keyValues.Select(k => KeyValuePair.Create(_target.KeyHeader, k)));
        var body = operation.Body is null ? null : Encoding.UTF8.GetBytes(operation.Body);
        return (url, RawHttp.Format(_target.Method, url, headers, body, body is null ? null : _target.ContentType));
    }
}
