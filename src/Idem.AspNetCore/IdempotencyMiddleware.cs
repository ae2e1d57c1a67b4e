using System.Globalization;
using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.AspNetCore;

/// <summary>
/// Gives endpoints that carry an <see cref="IdempotencyPolicy"/> the Idempotency-Key contract of BEHAVIOUR.md: it reads
/// the key, fingerprints the request, and runs the rest of the pipeline through <see cref="IIdempotentExecutor"/>,
/// capturing the response to store it and replaying stored ones. Endpoints without a policy pass straight through,
/// synchronously.
/// </summary>
internal sealed class IdempotencyMiddleware
{
    private readonly RequestDelegate _next;
    private readonly IIdempotentExecutor _executor;
    private readonly IIdempotencyScopeResolver _scopes;
    private readonly IdempotencyOptions _options;
    private readonly IdempotencyHttpOptions _http;
    private readonly StoredResponses _responses;
    private readonly ILogger _logger;

    public IdempotencyMiddleware(RequestDelegate next, IIdempotentExecutor executor, IIdempotencyScopeResolver scopes, IOptions<IdempotencyOptions> options, IOptions<IdempotencyHttpOptions> http, ILogger<IdempotencyMiddleware> logger)
    {
        _next = next;
        _executor = executor;
        _scopes = scopes;
        _options = options.Value;
        _http = http.Value;
        _responses = new StoredResponses(_http.ReplayedHeaders);
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
        var headerName = _http.HeaderName;
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
        var error = values.Count > 1 ? KeyError.Multiple : IdempotencyKey.Parse(values[0], _http.MaxKeyLength, out key);
        if (error != KeyError.None)
        {
            await ProblemWriter.WriteAsync(context, StatusCodes.Status400BadRequest, IdempotencyProblemTypes.KeyInvalid, "Idempotency key invalid",
                DescribeKeyError(error, headerName) + " Nothing ran; send the request again with a valid key.").ConfigureAwait(false);
            return;
        }

        var method = context.Request.Method;
        var route = context.GetEndpoint()?.GetIdempotencyRouteTemplate() ?? context.Request.Path.Value ?? "/";
        var scope = await _scopes.ResolveAsync(context).ConfigureAwait(false);
        var (fingerprint, members) = await HttpRequestFingerprint.ComputeAsync(context, method, route, policy.FingerprintMembers).ConfigureAwait(false);
        var operation = new IdempotentOperation(StoreKey.Create(scope, method, route, key!), fingerprint, key)
        {
            MemberDigest = members,
            Transactional = policy.Transactional,
            GroupCommit = policy.GroupCommit,
            LeaseDuration = policy.LeaseDuration,
            Retention = policy.Retention,
            ConcurrentRequests = policy.ConcurrentRequests,
            ConcurrentWaitTimeout = policy.ConcurrentWaitTimeout,
            StoreFailure = policy.StoreFailure,
        };

        var run = new IdempotentRequest(this, context, metadata)
        {
            Retention = policy.Retention ?? _options.Retention,
        };

        // Says how long the key is kept (the draft asks servers to publish it) on the answers that are kept: decided when
        // the answer starts, which for a large streamed one is before the record is completed.
        context.Response.OnStarting(static state =>
        {
            var run = (IdempotentRequest)state;
            var response = run.Context.Response;
            if (run.Replaying || (run.Running && run.HandlerRanOrUntracked && run.Disposition == KeyDisposition.Store && response.StatusCode < 500))
            {
                response.Headers[StoredResponses.RetentionHeader] = ((long)run.Retention.TotalSeconds).ToString(CultureInfo.InvariantCulture);
            }

            return Task.CompletedTask;
        }, run);
        try
        {
            var execution = await _executor.ExecuteAsync(operation, run, policy.Transactional ? RunTransactionalAsync : RunStandaloneAsync, context.RequestAborted).ConfigureAwait(false);
            await AnswerAsync(run, execution).ConfigureAwait(false);
        }
        finally
        {
            run.Capture?.Dispose();
        }
    }

    /// <summary>The handler, run under a claimed key: its response streams to the client, small ones held until stored.</summary>
    private static async ValueTask<OperationResult> RunStandaloneAsync(IIdempotencyContext idem, IdempotentRequest run, CancellationToken cancellationToken)
    {
        var self = run.Middleware;
        var context = run.Context;
        context.Features.Set(run);
        run.Running = true;
        var capture = run.Capture = ResponseCapture.PassThrough(context, self._http.MaxResponseBodyBytes);
        try
        {
            await self._next(context).ConfigureAwait(false);
            await capture.DetachAsync().ConfigureAwait(false);
        }
        catch
        {
            capture.Restore();
            throw;
        }

        // Code in the pipeline that knows better than the status code (a proxy that timed out, or never connected) said so.
        switch (run.Disposition)
        {
            case KeyDisposition.Abandon:
                return OperationResult.Abandon();
            case KeyDisposition.Release:
                return OperationResult.Release();
        }

        var status = context.Response.StatusCode;
        var serverErrors = run.Metadata.Policy.ServerErrors ?? self._options.ServerErrors;

        // Past a recovery point a server error is never the final answer: the key stays at its point for a retry to resume.
        return !run.HandlerRanOrUntracked || (status >= 500 && (serverErrors == ServerErrorHandling.Release || idem.RecoveryPoint is not null))
            ? OperationResult.Release()
            : OperationResult.Complete(self._responses.Snapshot(context, capture, run.Metadata.Policy));
    }

    /// <summary>
    /// The handler, run inside the claim's transaction: the client sees nothing until the unit of work has committed, since
    /// a response for writes that then roll back would be a lie.
    /// </summary>
    private static async ValueTask<OperationResult> RunTransactionalAsync(IIdempotencyContext idem, IdempotentRequest run, CancellationToken cancellationToken)
    {
        var self = run.Middleware;
        var context = run.Context;
        context.Features.Set(run);
        run.Running = true;
        var capture = run.Capture = ResponseCapture.Buffered(context, self._http.MaxResponseBodyBytes);
        try
        {
            await self._next(context).ConfigureAwait(false);
        }
        finally
        {
            await capture.DetachAsync().ConfigureAwait(false);
        }

        // Abandoning is releasing here: the rollback takes the claim with the writes.
        return !run.HandlerRanOrUntracked || context.Response.StatusCode >= 500 || run.Disposition != KeyDisposition.Store
            ? OperationResult.Release()
            : OperationResult.Complete(self._responses.Snapshot(context, capture, run.Metadata.Policy));
    }

    private async Task AnswerAsync(IdempotentRequest run, IdempotentExecution execution)
    {
        var context = run.Context;
        switch (execution.Outcome)
        {
            case IdempotentOutcome.Executed when run.Metadata.Policy.Transactional:
                if (!context.RequestAborted.IsCancellationRequested)
                {
                    // The whole body is in hand: frame it as its replays will be, with a length rather than chunks.
                    context.Response.ContentLength ??= run.Capture!.Length;
                    await run.Capture!.CopyToClientAsync(context.RequestAborted).ConfigureAwait(false);
                }

                break;
            case IdempotentOutcome.Executed:
                // A small response was held back until now: the record is settled before the client has its answer.
                await run.Capture!.SendHeldAsync().ConfigureAwait(false);
                break;
            case IdempotentOutcome.Replayed:
                run.Replaying = true;
                await StoredResponses.ReplayAsync(context, execution.Response!).ConfigureAwait(false);
                break;
            case IdempotentOutcome.Mismatch:
                run.Running = false;
                await MismatchAsync(context, execution).ConfigureAwait(false);
                break;
            case IdempotentOutcome.InProgress:
                run.Running = false;
                await ProblemWriter.WriteAsync(context, StatusCodes.Status409Conflict, IdempotencyProblemTypes.RequestInProgress, "Request in progress",
                    "The first request with this key is still running. A retry with the same key is safe once it finishes; wait for Retry-After.",
                    _http.RetryAfter).ConfigureAwait(false);
                break;
            case IdempotentOutcome.LeaseLost:
                run.Running = false;
                await LeaseLostAsync(run).ConfigureAwait(false);
                break;
            default:
                run.Running = false;
                if (execution.OperationRan)
                {
                    context.Response.Clear();
                }

                await ProblemWriter.WriteAsync(context, StatusCodes.Status503ServiceUnavailable, IdempotencyProblemTypes.StoreUnavailable, "Idempotency store unavailable",
                    !execution.OperationRan
                        ? "The idempotency store could not be reached, so the request did not run. A retry with the same key is safe."
                        : execution.RecoveryPoint is null
                            ? "The request could not be recorded and nothing was kept. A retry with the same key is safe."
                            : "The last step could not be recorded; the operation stays at its last recovery point. A retry with the same key is safe and resumes there.",
                    _http.RetryAfter).ConfigureAwait(false);
                break;
        }
    }

    // Names the body's top-level members that differ from the first request's when both were JSON objects whose digests
    // could be compared (an empty list then: the body is the same, so something outside it differs); says nothing of
    // members otherwise.
    private static Task MismatchAsync(HttpContext context, IdempotentExecution execution)
    {
        const string Advice = " Do not retry with this key; use a new key for a new request.";
        var fields = execution.MismatchedFields;
        var detail = !execution.MismatchedFieldsKnown
            ? "This key was already used for a different request (method, route, query or body differ)." + Advice
            : fields.Count == 0
                ? "This key was already used for a request with the same body: this one differs outside its body (route values, query or content type)." + Advice
                : "This key was already used for a request whose body differs from this one in " + Describe(fields) + "." + Advice;
        return ProblemWriter.WriteAsync(context, StatusCodes.Status422UnprocessableEntity, IdempotencyProblemTypes.KeyMismatch, "Idempotency key reused",
            detail, fields: execution.MismatchedFieldsKnown ? fields : null);
    }

    // The first few names, quoted; `fields` has them all.
    private static string Describe(IReadOnlyList<string> fields)
    {
        const int Named = 10;
        var names = string.Join(", ", fields.Take(Named).Select(f => "'" + f + "'"));
        return fields.Count <= Named ? names : $"{names} and {fields.Count - Named} more";
    }

    // The lease ran out mid-request and another request took the key over: it finishes the operation.
    private async Task LeaseLostAsync(IdempotentRequest run)
    {
        var context = run.Context;
        if (run.Metadata.Policy.Transactional)
        {
            context.Response.Clear();
        }
        else if (context.Response.HasStarted)
        {
            context.Abort();
            return;
        }

        Log.HandlerLeaseLost(_logger, context.Request.Path);
        await ProblemWriter.WriteAsync(context, StatusCodes.Status409Conflict, IdempotencyProblemTypes.RequestInProgress, "Request in progress",
            "Another request with this key took the operation over and is finishing it. A retry with the same key is safe once it finishes; wait for Retry-After.",
            _http.RetryAfter).ConfigureAwait(false);
    }

    private static string DescribeKeyError(KeyError error, string header) => error switch
    {
        KeyError.Empty => $"The '{header}' header is empty.",
        KeyError.TooLong => $"The '{header}' header is longer than allowed.",
        KeyError.InvalidCharacter => $"The '{header}' header may hold only printable ASCII characters (0x21-0x7E).",
        KeyError.Multiple => $"Send exactly one '{header}' header with one value, not a repeated header or a list.",
        _ => $"The '{header}' header is not a token or a quoted string.",
    };
}

/// <summary>
/// One request under a key, as the pipeline's feature: the endpoint filter marks the moment its handler starts, so a
/// request turned away before it (binding, validation, a filter) stores nothing.
/// </summary>
internal sealed class IdempotentRequest(IdempotencyMiddleware middleware, HttpContext context, IIdempotencyMetadata metadata)
{
    public IdempotencyMiddleware Middleware { get; } = middleware;

    public HttpContext Context { get; } = context;

    public IIdempotencyMetadata Metadata { get; } = metadata;

    public ResponseCapture? Capture { get; set; }

    /// <summary>The key's retention, which the retention header says in seconds.</summary>
    public required TimeSpan Retention { get; init; }

    /// <summary>The handler runs (or ran) under the claim, and its answer may be kept.</summary>
    public bool Running { get; set; }

    /// <summary>The answer is a stored one, replayed.</summary>
    public bool Replaying { get; set; }

    public bool HandlerRan { get; private set; }

    /// <summary>What the pipeline asked to be done with the key (<see cref="IdempotencyHttpContextExtensions"/>); by the status code unless told.</summary>
    public KeyDisposition Disposition { get; set; }

    /// <summary>True when the handler started, or when the endpoint has no filter to tell (then every response counts).</summary>
    public bool HandlerRanOrUntracked => HandlerRan || !Metadata.TracksHandlerRun;

    public static void MarkHandlerRan(HttpContext context)
    {
        if (context.Features.Get<IdempotentRequest>() is { } request)
        {
            request.HandlerRan = true;
        }
    }
}

/// <summary>What becomes of a claimed key once the pipeline has run.</summary>
internal enum KeyDisposition
{
    /// <summary>As the response's status code says: stored, or released after a 5xx (BEHAVIOUR §5).</summary>
    Store,

    /// <summary>Released whatever the status code: the request had no effect.</summary>
    Release,

    /// <summary>Neither stored nor released: the outcome is unknown, and the key stays held until its lease ends.</summary>
    Abandon,
}
