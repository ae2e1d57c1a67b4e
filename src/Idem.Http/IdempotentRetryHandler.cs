using System.Diagnostics;
using System.Runtime.ExceptionServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Idem.Http;

/// <summary>
/// Gives each logical request one idempotency key and retries it safely: every attempt carries the same key and the same
/// body bytes, so a server that deduplicates by key (Idem, Stripe, …) runs the operation at most once however many
/// attempts it takes. Register it with <c>IHttpClientBuilder.AddIdempotency()</c>; docs/client.md describes the rules.
/// </summary>
/// <remarks>
/// Requests whose method is not in <see cref="IdempotentClientOptions.Methods"/> pass through untouched, unless the caller
/// gave them a key. The response tells what happened through <see cref="IdempotencyHttpMessageExtensions.GetIdempotencyInfo"/>.
/// </remarks>
public sealed class IdempotentRetryHandler : DelegatingHandler
{
    private const string ReplayedHeader = "Idempotent-Replayed";

    private readonly string _headerName;
    private readonly HashSet<HttpMethod> _methods;
    private readonly int _maxAttempts;
    private readonly TimeSpan _deadline;
    private readonly TimeSpan _baseDelay;
    private readonly TimeSpan _maxDelay;
    private readonly bool _retryOn500;
    private readonly TimeSpan? _perAttemptTimeout;
    private readonly Func<HttpRequestMessage, string>? _keyGenerator;
    private readonly Func<double> _random;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    /// <summary>Makes a handler; set <see cref="DelegatingHandler.InnerHandler"/> when not using <c>IHttpClientBuilder</c>.</summary>
    /// <param name="options">The settings, copied now; default <see cref="IdempotentClientOptions"/>'s defaults.</param>
    /// <param name="timeProvider">The clock for backoff, timeouts and the deadline; default <see cref="TimeProvider.System"/>.</param>
    /// <param name="logger">Where retries and give-ups are logged; default none.</param>
    /// <exception cref="OptionsValidationException">The options are out of range.</exception>
    public IdempotentRetryHandler(IdempotentClientOptions? options = null, TimeProvider? timeProvider = null, ILogger<IdempotentRetryHandler>? logger = null)
    {
        options ??= new IdempotentClientOptions();
        OptionsValidation.ThrowIfInvalid(options, new IdempotentClientOptionsValidator(), new IdempotentClientDelaysValidator());

        _headerName = options.HeaderName;
        _methods = [.. options.Methods];
        _maxAttempts = options.MaxAttempts;
        _deadline = options.OverallDeadline;
        _baseDelay = options.BaseDelay;
        _maxDelay = options.MaxDelay;
        _retryOn500 = options.RetryOn500;
        _perAttemptTimeout = options.PerAttemptTimeout;
        _keyGenerator = options.KeyGenerator;
        _random = options.Random ?? Random.Shared.NextDouble;
        _time = timeProvider ?? TimeProvider.System;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
    }

    /// <inheritdoc/>
    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        var key = CallerKey(request, out var inHeader);
        if (key is null && !_methods.Contains(request.Method))
        {
            return base.SendAsync(request, cancellationToken);
        }

        return SendWithRetriesAsync(request, key, inHeader, cancellationToken);
    }

    /// <inheritdoc/>
    /// <exception cref="NotSupportedException">The request would get a key: waiting between retries needs <c>SendAsync</c>.</exception>
    protected override HttpResponseMessage Send(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        if (CallerKey(request, out _) is null && !_methods.Contains(request.Method))
        {
            return base.Send(request, cancellationToken);
        }

        throw new NotSupportedException("Idempotent requests are sent with SendAsync; the synchronous HttpClient.Send does not retry.");
    }

    private async Task<HttpResponseMessage> SendWithRetriesAsync(HttpRequestMessage request, string? key, bool inHeader, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        key ??= NewKey(request);

        // Kept on the caller's message: if a handler outside this one sends it again, the key (and snapshot) are reused.
        request.Options.Set(IdempotencyHttpMessageExtensions.KeyOption, key);
        var priorAttempts = request.Options.TryGetValue(IdempotencyHttpMessageExtensions.InfoOption, out var prior) ? prior.Attempts : 0;
        var target = request.RequestUri?.GetLeftPart(UriPartial.Path) ?? "";
        var snapshot = await RequestSnapshot.CaptureAsync(request, cancellationToken).ConfigureAwait(false);
        var deadline = _time.GetUtcNow() + _deadline;

        using var activity = ClientTelemetry.ActivitySource.StartActivity("idem.client.request");
        activity?.SetTag("http.request.method", request.Method.Method);
        Log.Sending(_logger, request.Method, target, key);

        for (var attempt = 1; ; attempt++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var message = snapshot.CreateAttempt(request, inHeader ? null : _headerName, key);
            request.Options.Set(IdempotencyHttpMessageExtensions.InfoOption, new IdempotentCallInfo(key, priorAttempts + attempt, Replayed: false));
            ClientTelemetry.Attempts.Add(1);

            HttpResponseMessage? response = null;
            ExceptionDispatchInfo? failure = null;
            string reason;
            using (var timeout = _perAttemptTimeout is { } limit ? new CancellationTokenSource(limit, _time) : null)
            using (var linked = timeout is null ? null : CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token))
            {
                try
                {
                    response = await base.SendAsync(message, linked?.Token ?? cancellationToken).ConfigureAwait(false);
                    reason = "";
                }
                catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && timeout is { IsCancellationRequested: true })
                {
                    failure = ExceptionDispatchInfo.Capture(new TimeoutException($"The attempt timed out after {_perAttemptTimeout}.", ex));
                    reason = "timeout";
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested && RetryRules.IsTransient(ex, out reason))
                {
                    failure = ExceptionDispatchInfo.Capture(ex);
                }
            }

            if (response is not null)
            {
                bool retry;
                try
                {
                    (retry, reason) = await RetryRules.ClassifyAsync(response, _retryOn500, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    response.Dispose();
                    throw;
                }

                if (!retry)
                {
                    return Finish(request, response, key, priorAttempts + attempt, target, activity);
                }
            }

            var retryAfter = response is null ? null : RetryRules.RetryAfter(response, _time.GetUtcNow());
            var delay = RetryRules.Backoff(attempt - 1, _baseDelay, _maxDelay, _random());
            if (retryAfter > delay)
            {
                delay = retryAfter.Value;
            }

            var limitReached = attempt >= _maxAttempts ? "max_attempts"
                : _time.GetUtcNow() + delay > deadline ? "deadline"
                : null;
            if (limitReached is not null)
            {
                ClientTelemetry.GaveUp.Add(1, new KeyValuePair<string, object?>(ClientTelemetry.LimitTag, limitReached));
                Log.GivingUp(_logger, request.Method, target, key, priorAttempts + attempt, reason, limitReached);
                activity?.SetTag("idem.client.attempts", priorAttempts + attempt);
                activity?.SetStatus(ActivityStatusCode.Error, reason);
                if (response is not null)
                {
                    return Finish(request, response, key, priorAttempts + attempt, target, activity);
                }

                failure!.Throw();
            }

            ClientTelemetry.Retries.Add(1, new KeyValuePair<string, object?>(ClientTelemetry.ReasonTag, reason));
            activity?.AddEvent(new ActivityEvent("idem.client.retry", tags: new ActivityTagsCollection { [ClientTelemetry.ReasonTag] = reason, ["idem.delay_ms"] = delay.TotalMilliseconds }));
            Log.Retrying(_logger, attempt, request.Method, target, reason, delay);
            response?.Dispose();
            message.Dispose();

            // The caller's cancellation ends the wait at once; nothing more is sent.
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private HttpResponseMessage Finish(HttpRequestMessage request, HttpResponseMessage response, string key, int attempts, string target, Activity? activity)
    {
        var replayed = response.Headers.TryGetValues(ReplayedHeader, out var values) && values.Any(v => string.Equals(v.Trim(), "true", StringComparison.OrdinalIgnoreCase));
        request.Options.Set(IdempotencyHttpMessageExtensions.InfoOption, new IdempotentCallInfo(key, attempts, replayed));

        // The caller's message, not the last attempt's copy: that is where the info lives, and what the caller sent.
        response.RequestMessage = request;
        activity?.SetTag("idem.client.attempts", attempts);
        activity?.SetTag("idem.client.replayed", replayed);
        if (replayed)
        {
            ClientTelemetry.Replays.Add(1);
            Log.Replayed(_logger, request.Method, target, key, attempts);
        }

        return response;
    }

    /// <summary>The key the caller chose: its key header, else the one set through <c>SetIdempotencyKey</c> (or by an earlier pass).</summary>
    private string? CallerKey(HttpRequestMessage request, out bool inHeader)
    {
        if (request.Headers.TryGetValues(_headerName, out var values))
        {
            inHeader = true;
            var raw = values.FirstOrDefault() ?? "";
            return IdempotencyKey.Parse(raw.AsSpan(), int.MaxValue, out var parsed) == KeyError.None ? parsed! : raw;
        }

        inHeader = false;
        return request.Options.TryGetValue(IdempotencyHttpMessageExtensions.KeyOption, out var key) ? key : null;
    }

    private string NewKey(HttpRequestMessage request)
    {
        if (_keyGenerator is null)
        {
            return IdempotencyKeys.New();
        }

        var key = _keyGenerator(request);
        return IdempotencyKeys.IsValid(key)
            ? key
            : throw new InvalidOperationException("IdempotentClientOptions.KeyGenerator made a key that cannot be sent: a key is 1-255 printable ASCII characters without '\"' or ','.");
    }
}
