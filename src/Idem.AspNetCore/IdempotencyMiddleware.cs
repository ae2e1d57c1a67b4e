using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Idem.AspNetCore;

/// <summary>
/// Gives endpoints that carry an <see cref="IdempotencyPolicy"/> the Idempotency-Key contract of BEHAVIOUR.md.
/// Endpoints without one pass straight through, synchronously.
/// </summary>
internal sealed class IdempotencyMiddleware
{
    internal const string ReplayedHeader = "Idempotent-Replayed";
    internal const string BodyOmittedHeader = "Idempotent-Body-Omitted";

    private static readonly HashSet<string> BuiltInReplayedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.ContentType, HeaderNames.Location, HeaderNames.ETag, HeaderNames.ContentLanguage, HeaderNames.CacheControl, HeaderNames.LastModified,
    };

    // Never stored, whatever an allow-list says: they belong to one connection or one moment.
    private static readonly HashSet<string> NeverReplayedHeaders = new(StringComparer.OrdinalIgnoreCase)
    {
        HeaderNames.SetCookie, HeaderNames.Date, HeaderNames.Server, HeaderNames.Connection, HeaderNames.KeepAlive, HeaderNames.TransferEncoding,
        HeaderNames.Upgrade, HeaderNames.ProxyAuthenticate, HeaderNames.TE, HeaderNames.Trailer, HeaderNames.ContentLength, ReplayedHeader, BodyOmittedHeader,
    };

    // Bodies up to this size (with a Content-Length) are fingerprinted in place and left in the server's pipe.
    private const long BodyKeptInPipeLimit = 64 * 1024;

    private readonly RequestDelegate _next;
    private readonly IIdempotencyStore _store;
    private readonly IIdempotencyScopeResolver _scopes;
    private readonly IdempotencyOptions _options;
    private readonly HashSet<string> _replayedHeaders;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public IdempotencyMiddleware(RequestDelegate next, IIdempotencyStore store, IIdempotencyScopeResolver scopes, IOptions<IdempotencyOptions> options, TimeProvider time, ILogger<IdempotencyMiddleware> logger)
    {
        _next = next;
        _store = store;
        _scopes = scopes;
        _options = options.Value;
        _replayedHeaders = new HashSet<string>(BuiltInReplayedHeaders.Concat(_options.ReplayedHeaders), StringComparer.OrdinalIgnoreCase);
        _replayedHeaders.ExceptWith(NeverReplayedHeaders);
        _time = time;
        _logger = logger;
    }

    public Task InvokeAsync(HttpContext context)
    {
        var metadata = context.GetEndpoint()?.Metadata.GetMetadata<IIdempotencyMetadata>();
        if (metadata is null || !metadata.Policy.AppliesTo(context.Request.Method))
        {
            return _next(context);
        }

        return InvokeCoreAsync(context, metadata);
    }

    private async Task InvokeCoreAsync(HttpContext context, IIdempotencyMetadata metadata)
    {
        var policy = metadata.Policy;
        var headerName = _options.HeaderName;
        var values = context.Request.Headers[headerName];
        if (values.Count == 0)
        {
            if (policy.KeyRequired)
            {
                await ProblemWriter.WriteAsync(context, StatusCodes.Status400BadRequest, IdempotencyProblemTypes.KeyMissing, "Idempotency key missing",
                    $"This endpoint requires an '{headerName}' header. Nothing ran; send the request again with a new unique key.").ConfigureAwait(false);
                return;
            }

            // Optional keys: a keyless request runs on its own and never shares a record with another.
            await _next(context).ConfigureAwait(false);
            return;
        }

        // One value, as a string: no boxed list, and a bare key is the header's own string.
        string? key = null;
        var error = values.Count > 1 ? KeyError.Multiple : IdempotencyKey.Parse(values[0], _options.MaxKeyLength, out key);
        if (error != KeyError.None)
        {
            await ProblemWriter.WriteAsync(context, StatusCodes.Status400BadRequest, IdempotencyProblemTypes.KeyInvalid, "Idempotency key invalid",
                DescribeKeyError(error, headerName) + " Nothing ran; send the request again with a valid key.").ConfigureAwait(false);
            return;
        }

        using var activity = IdemTelemetry.ActivitySource.StartActivity("idem.request");
        var method = context.Request.Method;
        var route = context.GetEndpoint()?.GetIdempotencyRouteTemplate() ?? context.Request.Path.Value ?? "/";
        var scope = await _scopes.ResolveAsync(context).ConfigureAwait(false);
        var storeKey = StoreKey.Create(scope, method, route, key!);
        var request = new ClaimRequest(
            storeKey,
            await FingerprintRequestAsync(context, method, route, policy.FingerprintMembers).ConfigureAwait(false),
            policy.LeaseDuration ?? _options.LeaseDuration,
            policy.Retention ?? _options.Retention);

        var run = new RequestRun(context, metadata, request, key!, activity);
        if (policy.Transactional)
        {
            await RunTransactionalAsync(run).ConfigureAwait(false);
        }
        else
        {
            await RunStandaloneAsync(run).ConfigureAwait(false);
        }
    }

    private async Task RunStandaloneAsync(RequestRun run)
    {
        var context = run.Context;
        ClaimResult claim;
        try
        {
            // The first try without a closure or a Task: the in-memory store answers synchronously, and only a key in
            // progress under WaitThenReplay needs the waiting loop.
            var first = Measure(_store.TryClaimAsync(run.Request, context.RequestAborted));
            claim = first.IsCompletedSuccessfully ? first.Result : await first.ConfigureAwait(false);
            if (claim.Outcome == ClaimOutcome.InProgress && WaitsThenReplays(run))
            {
                claim = await ClaimWaitingAsync(run, ct => Measure(_store.TryClaimAsync(run.Request, ct)), claim).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsStoreFailure(ex, context))
        {
            await StoreUnavailableAsync(run, ex).ConfigureAwait(false);
            return;
        }

        if (claim.Outcome != ClaimOutcome.Claimed)
        {
            await AnswerUnclaimedAsync(run, claim).ConfigureAwait(false);
            return;
        }

        var lease = claim.Lease!;
        IdemTelemetry.Claims.Add(1);
        run.Activity?.SetTag("idem.outcome", "claimed");
        var feature = new IdempotencyFeature(run.Key, _store, lease);
        context.Features.Set(feature);
        context.RequestServices.GetRequiredService<IdempotencyTransactionAccessor>().Context = feature;
        var keeper = LeaseKeeper.Start(_store, lease, _time, _logger);
        using var capture = ResponseCapture.PassThrough(context, _options.MaxResponseBodyBytes);
        try
        {
            await _next(context).ConfigureAwait(false);
            await capture.DetachAsync().ConfigureAwait(false);
        }
        catch (IdempotencyLeaseLostException ex)
        {
            // Another request took the key over and finishes the operation: nothing of ours to release.
            await keeper.DisposeAsync().ConfigureAwait(false);
            capture.Restore();
            await LeaseLostAsync(run, ex).ConfigureAwait(false);
            return;
        }
        catch
        {
            await keeper.DisposeAsync().ConfigureAwait(false);
            capture.Restore();
            await ReleaseAsync(lease).ConfigureAwait(false);
            throw;
        }

        await keeper.DisposeAsync().ConfigureAwait(false);
        var status = context.Response.StatusCode;
        var serverErrors = run.Metadata.Policy.ServerErrors ?? _options.ServerErrors;

        // Past a recovery point a server error is never the final answer: the key stays at its point for a retry to resume.
        if (!HandlerRan(run.Metadata, feature) || (status >= 500 && (serverErrors == ServerErrorHandling.Release || feature.RecoveryPoint is not null)))
        {
            await ReleaseAsync(lease).ConfigureAwait(false);
        }
        else
        {
            await CompleteAsync(lease, Snapshot(context, capture, run.Metadata.Policy)).ConfigureAwait(false);
        }

        // A small response was held back until now: the record is settled before the client has its answer.
        await capture.SendHeldAsync().ConfigureAwait(false);
    }

    private async Task RunTransactionalAsync(RequestRun run)
    {
        var context = run.Context;
        if (_store is not ITransactionalIdempotencyStore store)
        {
            throw new InvalidOperationException(
                $"The endpoint '{context.GetEndpoint()?.DisplayName}' is transactional, but the registered idempotency store ({_store.GetType().Name}) has no transactional mode. Use a SQL store.");
        }

        TransactionalClaim? held = null;
        ClaimResult claim;
        try
        {
            claim = await ClaimWaitingAsync(run, async ct =>
            {
                var begun = await Measure(store.BeginTransactionalAsync(run.Request, ct)).ConfigureAwait(false);
                if (begun.Result.Outcome == ClaimOutcome.Claimed)
                {
                    held = begun;
                }
                else
                {
                    await begun.DisposeAsync().ConfigureAwait(false);
                }

                return begun.Result;
            }).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsStoreFailure(ex, context))
        {
            await StoreUnavailableAsync(run, ex).ConfigureAwait(false);
            return;
        }

        if (held is null)
        {
            await AnswerUnclaimedAsync(run, claim).ConfigureAwait(false);
            return;
        }

        await using (held.ConfigureAwait(false))
        {
            IdemTelemetry.Claims.Add(1);
            run.Activity?.SetTag("idem.outcome", "claimed");
            var feature = new IdempotencyFeature(run.Key, _store, held, _time, _logger);
            context.Features.Set(feature);
            var accessor = context.RequestServices.GetRequiredService<IdempotencyTransactionAccessor>();
            accessor.Current = held.Transaction;
            accessor.Context = feature;

            // The client sees nothing until the unit of work has committed: a response for writes that then roll back
            // would be a lie.
            using var capture = ResponseCapture.Buffered(context, _options.MaxResponseBodyBytes);
            try
            {
                try
                {
                    await _next(context).ConfigureAwait(false);
                }
                finally
                {
                    // No renewal may run once the claim commits or rolls back: it would find the key no longer held.
                    await feature.StopRenewingAsync().ConfigureAwait(false);
                }

                await capture.DetachAsync().ConfigureAwait(false);
            }
            catch (IdempotencyLeaseLostException ex)
            {
                await capture.DetachAsync().ConfigureAwait(false);
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                context.Response.Clear();
                await LeaseLostAsync(run, ex).ConfigureAwait(false);
                return;
            }
            catch
            {
                await capture.DetachAsync().ConfigureAwait(false);
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                IdemTelemetry.Releases.Add(1);
                throw;
            }
            finally
            {
                accessor.Current = null;
                accessor.Context = null;
            }

            var status = context.Response.StatusCode;
            if (!HandlerRan(run.Metadata, feature) || status >= 500)
            {
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                IdemTelemetry.Releases.Add(1);
            }
            else
            {
                try
                {
                    // Not the request's token: a client that hung up must not undo what happened.
                    await held.CommitAsync(Snapshot(context, capture, run.Metadata.Policy), CancellationToken.None).ConfigureAwait(false);
                }
                catch (IdempotencyLeaseLostException ex)
                {
                    context.Response.Clear();
                    await LeaseLostAsync(run, ex).ConfigureAwait(false);
                    return;
                }
                catch (Exception ex)
                {
                    Log.CommitFailed(_logger, run.Request.StoreKey, ex);
                    IdemTelemetry.StoreFailures.Add(1);
                    context.Response.Clear();
                    await ProblemWriter.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, IdempotencyProblemTypes.StoreUnavailable, "Idempotency store unavailable",
                        feature.RecoveryPoint is null
                            ? "The request could not be recorded and nothing was kept. A retry with the same key is safe."
                            : "The last step could not be recorded; the operation stays at its last recovery point. A retry with the same key is safe and resumes there.",
                        _options.RetryAfter).ConfigureAwait(false);
                    return;
                }
            }

            if (!context.RequestAborted.IsCancellationRequested)
            {
                // The whole body is in hand: frame it as its replays will be, with a length rather than chunks.
                context.Response.ContentLength ??= capture.Length;
                await capture.CopyToClientAsync(context.RequestAborted).ConfigureAwait(false);
            }
        }
    }

    private bool WaitsThenReplays(RequestRun run)
        => (run.Metadata.Policy.ConcurrentRequests ?? _options.ConcurrentRequests) == ConcurrentRequestHandling.WaitThenReplay;

    private async Task<ClaimResult> ClaimWaitingAsync(RequestRun run, Func<CancellationToken, ValueTask<ClaimResult>> claim, ClaimResult? firstResult = null)
    {
        var token = run.Context.RequestAborted;
        var result = firstResult ?? await claim(token).ConfigureAwait(false);
        var policy = run.Metadata.Policy;
        if (result.Outcome != ClaimOutcome.InProgress || !WaitsThenReplays(run))
        {
            return result;
        }

        var deadline = _time.GetUtcNow() + (policy.ConcurrentWaitTimeout ?? _options.ConcurrentWaitTimeout);
        var delay = TimeSpan.FromMilliseconds(20);
        while (result.Outcome == ClaimOutcome.InProgress && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(delay, _time, token).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromMilliseconds(500).Ticks));
            result = await claim(token).ConfigureAwait(false);
        }

        return result;
    }

    private async Task AnswerUnclaimedAsync(RequestRun run, ClaimResult claim)
    {
        var context = run.Context;
        switch (claim.Outcome)
        {
            case ClaimOutcome.Completed:
                IdemTelemetry.Replays.Add(1);
                run.Activity?.SetTag("idem.outcome", "replayed");
                Log.Replaying(_logger, run.Request.StoreKey);
                await ReplayAsync(context, claim.Response!).ConfigureAwait(false);
                break;
            case ClaimOutcome.Mismatch:
                IdemTelemetry.Mismatches.Add(1);
                run.Activity?.SetTag("idem.outcome", "mismatch");
                Log.Mismatch(_logger, run.Request.StoreKey);
                await ProblemWriter.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, IdempotencyProblemTypes.KeyMismatch, "Idempotency key reused",
                    "This key was already used for a different request (method, route, query or body differ). Do not retry with this key; use a new key for a new request.").ConfigureAwait(false);
                break;
            default:
                IdemTelemetry.Conflicts.Add(1);
                run.Activity?.SetTag("idem.outcome", "in_progress");
                Log.InProgress(_logger, run.Request.StoreKey);
                await ProblemWriter.WriteAsync(context, StatusCodes.Status409Conflict, IdempotencyProblemTypes.RequestInProgress, "Request in progress",
                    "The first request with this key is still running. A retry with the same key is safe once it finishes; wait for Retry-After.",
                    _options.RetryAfter).ConfigureAwait(false);
                break;
        }
    }

    // The lease ran out mid-request and another request took the key over: it finishes the operation.
    private async Task LeaseLostAsync(RequestRun run, IdempotencyLeaseLostException exception)
    {
        IdemTelemetry.LeaseLosses.Add(1);
        run.Activity?.SetTag("idem.outcome", "lease_lost");
        Log.HandlerLeaseLost(_logger, run.Request.StoreKey, exception);
        if (run.Context.Response.HasStarted)
        {
            run.Context.Abort();
            return;
        }

        await ProblemWriter.WriteAsync(run.Context, StatusCodes.Status409Conflict, IdempotencyProblemTypes.RequestInProgress, "Request in progress",
            "Another request with this key took the operation over and is finishing it. A retry with the same key is safe once it finishes; wait for Retry-After.",
            _options.RetryAfter).ConfigureAwait(false);
    }

    private async Task StoreUnavailableAsync(RequestRun run, Exception exception)
    {
        IdemTelemetry.StoreFailures.Add(1);
        run.Activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
        if ((run.Metadata.Policy.StoreFailure ?? _options.StoreFailure) == StoreFailureHandling.FailOpen && !run.Metadata.Policy.Transactional)
        {
            Log.FailingOpen(_logger, run.Request.StoreKey);
            await _next(run.Context).ConfigureAwait(false);
            return;
        }

        Log.StoreFailed(_logger, run.Request.StoreKey, exception);
        await ProblemWriter.WriteAsync(run.Context, StatusCodes.Status503ServiceUnavailable, IdempotencyProblemTypes.StoreUnavailable, "Idempotency store unavailable",
            "The idempotency store could not be reached, so the request did not run. A retry with the same key is safe.", _options.RetryAfter).ConfigureAwait(false);
    }

    private static async Task ReplayAsync(HttpContext context, IdempotencyResponse stored)
    {
        var response = context.Response;
        response.StatusCode = stored.StatusCode;

        // Indexed, not foreach: an interface enumerator would be allocated on every replay.
        var headers = stored.Headers;
        for (var i = 0; i < headers.Count; i++)
        {
            var (name, value) = headers[i];
            response.Headers.Append(name, value);
        }

        response.Headers[ReplayedHeader] = "true";
        if (stored.BodyTruncated)
        {
            response.Headers[BodyOmittedHeader] = "true";
            response.ContentLength = 0;
            return;
        }

        response.ContentLength = stored.Body.Length;
        if (!stored.Body.IsEmpty)
        {
            await response.Body.WriteAsync(stored.Body, context.RequestAborted).ConfigureAwait(false);
        }
    }

    private IdempotencyResponse Snapshot(HttpContext context, ResponseCapture capture, IdempotencyPolicy policy)
    {
        // Gathered in a pooled array and kept as one exact-size array: the record lives as long as its retention, and a
        // List would keep a second object (and spare capacity) for the GC to copy.
        var gathered = ArrayPool<KeyValuePair<string, string>>.Shared.Rent(8);
        var count = 0;
        KeyValuePair<string, string>[] headers;
        try
        {
            foreach (var (name, values) in context.Response.Headers)
            {
                if (!_replayedHeaders.Contains(name) && !IsEndpointReplayed(policy, name))
                {
                    continue;
                }

                foreach (var value in values)
                {
                    if (value is not null)
                    {
                        if (count == gathered.Length)
                        {
                            var larger = ArrayPool<KeyValuePair<string, string>>.Shared.Rent(count * 2);
                            gathered.AsSpan(0, count).CopyTo(larger);
                            ArrayPool<KeyValuePair<string, string>>.Shared.Return(gathered, clearArray: true);
                            gathered = larger;
                        }

                        gathered[count++] = new(name, value);
                    }
                }
            }

            headers = count == 0 ? [] : gathered.AsSpan(0, count).ToArray();
        }
        finally
        {
            ArrayPool<KeyValuePair<string, string>>.Shared.Return(gathered, clearArray: true);
        }

        return capture.OverLimit
            ? new IdempotencyResponse(context.Response.StatusCode, headers, ReadOnlyMemory<byte>.Empty, bodyTruncated: true)
            : new IdempotencyResponse(context.Response.StatusCode, headers, capture.ToArray());
    }

    private static bool IsEndpointReplayed(IdempotencyPolicy policy, string name)
    {
        foreach (var header in policy.ReplayedHeaders)
        {
            if (string.Equals(header, name, StringComparison.OrdinalIgnoreCase))
            {
                return !NeverReplayedHeaders.Contains(name);
            }
        }

        return false;
    }

    private async Task CompleteAsync(IdempotencyLease lease, IdempotencyResponse response)
    {
        // The effect happened: record it even if the client hung up, and try hard before giving up.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                if (await Measure(_store.CompleteAsync(lease, response, CancellationToken.None)).ConfigureAwait(false) == LeaseStatus.LeaseLost)
                {
                    IdemTelemetry.LeaseLosses.Add(1);
                    Log.CompleteLeaseLost(_logger, lease.StoreKey);
                }

                return;
            }
            catch (Exception ex) when (attempt < 3)
            {
                Log.CompleteFailed(_logger, lease.StoreKey, attempt, ex);
                await Task.Delay(TimeSpan.FromMilliseconds(100 * attempt), _time).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                // The key stays in progress until its lease ends; duplicates get 409 meanwhile.
                IdemTelemetry.StoreFailures.Add(1);
                Log.CompleteFailed(_logger, lease.StoreKey, attempt, ex);
                return;
            }
        }
    }

    private async Task ReleaseAsync(IdempotencyLease lease)
    {
        try
        {
            if (await Measure(_store.ReleaseAsync(lease, CancellationToken.None)).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                IdemTelemetry.LeaseLosses.Add(1);
                Log.ReleaseLeaseLost(_logger, lease.StoreKey);
            }
            else
            {
                IdemTelemetry.Releases.Add(1);
            }
        }
        catch (Exception ex)
        {
            IdemTelemetry.StoreFailures.Add(1);
            Log.ReleaseFailed(_logger, lease.StoreKey, ex);
        }
    }

    private static bool HandlerRan(IIdempotencyMetadata metadata, IdempotencyFeature feature) => !metadata.TracksHandlerRun || feature.HandlerRan;

    // Anything the store throws counts as unavailable, except the client hanging up while we waited on it.
    private static bool IsStoreFailure(Exception ex, HttpContext context)
        => !(ex is OperationCanceledException && context.RequestAborted.IsCancellationRequested);

    // Timing costs an async frame per call: pay it only while someone listens to the histogram.
    private ValueTask<T> Measure<T>(ValueTask<T> call) => IdemTelemetry.StoreDuration.Enabled ? MeasureAsync(call) : call;

    private async ValueTask<T> MeasureAsync<T>(ValueTask<T> call)
    {
        var start = _time.GetTimestamp();
        try
        {
            return await call.ConfigureAwait(false);
        }
        finally
        {
            IdemTelemetry.StoreDuration.Record(_time.GetElapsedTime(start).TotalSeconds);
        }
    }

    /// <summary>
    /// Reads the whole body (however long: it all counts; Kestrel's MaxRequestBodySize bounds it) and fingerprints the
    /// request. A small body with a known length stays unconsumed in the server's pipe, so the handler reads it from there
    /// with no copy; anything else is copied once and handed to the handler as a stream, because holding a large body
    /// unconsumed would stall the connection's input buffer.
    /// </summary>
    private static async ValueTask<string> FingerprintRequestAsync(HttpContext context, string method, string route, IReadOnlyList<string>? members)
    {
        var request = context.Request;
        if (request.ContentLength == 0)
        {
            return ComputeFingerprint(context, method, route, [], members);
        }

        var keepInPipe = request.ContentLength <= BodyKeptInPipeLimit;
        var reader = request.BodyReader;
        while (true)
        {
            var read = await reader.ReadAsync(context.RequestAborted).ConfigureAwait(false);
            var buffer = read.Buffer;
            if (!read.IsCompleted)
            {
                reader.AdvanceTo(buffer.Start, buffer.End);
                continue;
            }

            if (!keepInPipe)
            {
                var bytes = buffer.IsEmpty ? [] : BuffersExtensions.ToArray(buffer);
                reader.AdvanceTo(buffer.End);
                request.Body = new MemoryStream(bytes, writable: false);
                return ComputeFingerprint(context, method, route, bytes, members);
            }

            try
            {
                if (buffer.IsSingleSegment)
                {
                    return ComputeFingerprint(context, method, route, buffer.FirstSpan, members);
                }

                var length = (int)buffer.Length;
                var rented = ArrayPool<byte>.Shared.Rent(length);
                try
                {
                    buffer.CopyTo(rented);
                    return ComputeFingerprint(context, method, route, rented.AsSpan(0, length), members);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(rented);
                }
            }
            finally
            {
                // Nothing consumed: the handler's first read gets the whole body again.
                reader.AdvanceTo(buffer.Start);
            }
        }
    }

    internal static string ComputeFingerprint(HttpContext context, string method, string route, ReadOnlySpan<byte> body, IReadOnlyList<string>? members)
    {
        using var fingerprint = new RequestFingerprint();
        fingerprint.Add("method", method);
        fingerprint.Add("route", route);
        var routeValues = context.Request.RouteValues;
        if (routeValues.Count == 1)
        {
            // One value needs no sort (and no LINQ).
            foreach (var (name, value) in routeValues)
            {
                fingerprint.Add("route-value:" + name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }
        else if (routeValues.Count > 1)
        {
            foreach (var (name, value) in routeValues.OrderBy(v => v.Key, StringComparer.Ordinal))
            {
                fingerprint.Add("route-value:" + name, Convert.ToString(value, CultureInfo.InvariantCulture));
            }
        }

        var query = context.Request.Query;
        if (query.Count > 0)
        {
            foreach (var (name, values) in query.OrderBy(q => q.Key, StringComparer.Ordinal))
            {
                foreach (var value in values.Order(StringComparer.Ordinal))
                {
                    fingerprint.Add("query:" + name, value);
                }
            }
        }

        // The common content types, exactly as sent, without a parse: what TryParse then ToLowerInvariant gives for each
        // (a test holds them to it). The parse allocated 280 B and took about 0.3 us, longer than canonicalising a small body.
        var contentTypeHeader = context.Request.ContentType;
        string? mediaType = null;
        if (IsPlainJsonContentType(contentTypeHeader))
        {
            mediaType = "application/json";
        }
        else if (MediaTypeHeaderValue.TryParse(contentTypeHeader, out var contentType))
        {
            mediaType = contentType.MediaType.Value?.ToLowerInvariant();
        }

        fingerprint.Add("content-type", mediaType);
        var isJson = mediaType is not null && (mediaType == "application/json" || mediaType.EndsWith("+json", StringComparison.Ordinal));
        fingerprint.AddBody(body, isJson, members);
        return fingerprint.Finish();
    }

    /// <summary>Content types sent as they are here by most JSON clients; each parses to the media type application/json.</summary>
    internal static readonly string[] PlainJsonContentTypes =
    [
        "application/json",
        "application/json; charset=utf-8",
        "application/json; charset=UTF-8",
        "application/json;charset=utf-8",
        "application/json;charset=UTF-8",
    ];

    private static bool IsPlainJsonContentType(string? contentType)
    {
        foreach (var plain in PlainJsonContentTypes)
        {
            if (string.Equals(contentType, plain, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static string DescribeKeyError(KeyError error, string header) => error switch
    {
        KeyError.Empty => $"The '{header}' header is empty.",
        KeyError.TooLong => $"The '{header}' header is longer than allowed.",
        KeyError.InvalidCharacter => $"The '{header}' header may hold only printable ASCII characters (0x21-0x7E).",
        KeyError.Multiple => $"Send exactly one '{header}' header with one value, not a repeated header or a list.",
        _ => $"The '{header}' header is not a token or a quoted string.",
    };

    private sealed record RequestRun(HttpContext Context, IIdempotencyMetadata Metadata, ClaimRequest Request, string Key, Activity? Activity);
}
