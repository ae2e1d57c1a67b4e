using System.Globalization;
using System.Runtime.ExceptionServices;
using System.Security.Claims;
using Google.Protobuf;
using Grpc.AspNetCore.Server;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Idem.AspNetCore;
using Idem.Storage;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features.Authentication;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.Grpc;

/// <summary>
/// The gRPC front of the executor: for unary methods marked <see cref="IdempotentRpcAttribute"/> it reads the
/// <c>idempotency-key</c> metadata, fingerprints the method and the request message's bytes, runs the handler through
/// <see cref="IIdempotentExecutor"/>, stores the response message's bytes (or a business status), and replays stored
/// answers. Other calls pass straight through, synchronously.
/// </summary>
internal sealed class IdempotencyServerInterceptor : Interceptor
{
    /// <summary>What a stored answer is, as a gRPC answer: the status of the call, and for a failure its detail.</summary>
    internal const string StatusHeader = "grpc-status";
    internal const string DetailHeader = "grpc-message";

    // Stored beside the status: a trailer the handler set, under its own name after this prefix.
    internal const string TrailerPrefix = "trailer:";

    // gRPC always answers HTTP 200; the call's own status is in the grpc-status header of the stored answer.
    private const int StoredStatusCode = 200;

    private static readonly KeyValuePair<string, string>[] OkHeaders = [new(StatusHeader, "0")];

    private readonly IIdempotentExecutor _executor;
    private readonly IIdempotencyScopeResolver? _scopes;
    private readonly IdempotencyHttpOptions _options;
    private readonly ILogger _logger;
    private readonly string _retryAfterMilliseconds;

    public IdempotencyServerInterceptor(IIdempotentExecutor executor, IServiceProvider services, IOptions<IdempotencyHttpOptions> options, ILogger<IdempotencyServerInterceptor> logger)
    {
        _executor = executor;

        // Idem.AspNetCore's resolver when the app registered Idem through AddIdempotency(); the same default otherwise.
        _scopes = services.GetService<IIdempotencyScopeResolver>();

        // The key rules and Retry-After of the HTTP front: one key format for every front of an app.
        _options = options.Value;
        _logger = logger;
        _retryAfterMilliseconds = ((long)_options.RetryAfter.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
    }

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var endpoint = context.GetHttpContext().GetEndpoint();
        var policy = endpoint?.Metadata.GetMetadata<IdempotentRpcAttribute>();
        if (policy is null)
        {
            return continuation(request, context);
        }

        return HandleAsync(request, context, continuation, policy, endpoint!.Metadata.GetMetadata<GrpcMethodMetadata>()?.Method as Method<TRequest, TResponse>);
    }

    /// <summary>Whether a status a handler throws means "this did not take effect; try again": the key is released.</summary>
    internal static bool ReleasesKey(StatusCode code) => code is StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown
        or StatusCode.DeadlineExceeded or StatusCode.Aborted or StatusCode.ResourceExhausted or StatusCode.Cancelled
        or StatusCode.Unimplemented or StatusCode.DataLoss;

    private async Task<TResponse> HandleAsync<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation, IdempotentRpcAttribute policy, Method<TRequest, TResponse>? method)
        where TRequest : class
        where TResponse : class
    {
        string? value = null;
        var count = 0;
        foreach (var entry in context.RequestHeaders)
        {
            if (entry.Key == IdempotencyMetadataKeys.Key)
            {
                value = entry.Value;
                count++;
            }
        }

        if (count == 0)
        {
            if (policy.KeyRequired)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"This method requires '{IdempotencyMetadataKeys.Key}' metadata. Nothing ran; call again with a new unique key."));
            }

            // Optional keys: a keyless call runs on its own and never shares a record with another.
            return await continuation(request, context).ConfigureAwait(false);
        }

        string? key = null;
        var error = count > 1 ? KeyError.Multiple : IdempotencyKey.Parse(value, _options.MaxKeyLength, out key);
        if (error != KeyError.None)
        {
            throw new RpcException(new Status(StatusCode.InvalidArgument, DescribeKeyError(error) + " Nothing ran; call again with a valid key."));
        }

        var httpContext = context.GetHttpContext();
        var scope = _scopes is null ? DefaultScope(httpContext) : await _scopes.ResolveAsync(httpContext).ConfigureAwait(false);
        var call = new UnaryCall<TRequest, TResponse>(request, context, continuation, method);
        var operation = new IdempotentOperation(StoreKey.Create(scope, "grpc", context.Method, key!), call.Fingerprint(), key)
        {
            Transactional = policy.Transactional,
            ConcurrentRequests = policy.WaitForConcurrent ? ConcurrentRequestHandling.WaitThenReplay : null,
        };

        var execution = await _executor.ExecuteAsync(operation, call, RunAsync, context.CancellationToken).ConfigureAwait(false);
        switch (execution.Outcome)
        {
            case IdempotentOutcome.Executed:
                if (call.Failure is not null)
                {
                    ExceptionDispatchInfo.Throw(call.Failure);
                }

                return call.Response!;
            case IdempotentOutcome.Replayed:
                return await ReplayAsync(call, execution.Response!).ConfigureAwait(false);
            case IdempotentOutcome.Mismatch:
                throw new RpcException(new Status(StatusCode.FailedPrecondition,
                    "This idempotency key was already used for a different call (another method or request message). Do not retry with this key; use a new key for a new call."));
            case IdempotentOutcome.InProgress:
                throw new RpcException(new Status(StatusCode.Aborted,
                    "The first call with this idempotency key is still running. A retry with the same key is safe once it finishes; wait for retry-after."), RetryTrailers());
            case IdempotentOutcome.LeaseLost:
                Log.HandlerLeaseLost(_logger, context.Method);
                throw new RpcException(new Status(StatusCode.Aborted,
                    "Another call with this idempotency key took the operation over and is finishing it. A retry with the same key is safe once it finishes; wait for retry-after."), RetryTrailers());
            default:
                throw new RpcException(new Status(StatusCode.Unavailable,
                    !execution.OperationRan
                        ? "The idempotency store could not be reached, so the call did not run. A retry with the same key is safe."
                        : execution.RecoveryPoint is null
                            ? "The call could not be recorded and nothing was kept. A retry with the same key is safe."
                            : "The last step could not be recorded; the operation stays at its last recovery point. A retry with the same key is safe and resumes there."),
                    RetryTrailers());
        }
    }

    /// <summary>The handler, under a claimed key: its answer (a message, or a business status) becomes the stored one.</summary>
    private static async ValueTask<OperationResult> RunAsync<TRequest, TResponse>(IIdempotencyContext idem, UnaryCall<TRequest, TResponse> call, CancellationToken cancellationToken)
        where TRequest : class
        where TResponse : class
    {
        try
        {
            call.Response = await call.Continuation(call.Request, call.Context).ConfigureAwait(false);
        }
        catch (RpcException ex) when (!ReleasesKey(ex.StatusCode))
        {
            // A business answer (InvalidArgument, NotFound, FailedPrecondition…): the call ran and this is its outcome.
            call.Failure = ex;
            List<KeyValuePair<string, string>> failure =
                [new(StatusHeader, ((int)ex.StatusCode).ToString(CultureInfo.InvariantCulture)), new(DetailHeader, ex.Status.Detail)];
            AddTrailers(failure, ex.Trailers);
            AddTrailers(failure, call.Context.ResponseTrailers);
            return OperationResult.Complete(new IdempotencyResponse(StoredStatusCode, failure, ReadOnlyMemory<byte>.Empty));
        }

        IReadOnlyList<KeyValuePair<string, string>> headers = OkHeaders;
        if (call.Context.ResponseTrailers.Count > 0)
        {
            var withTrailers = new List<KeyValuePair<string, string>>(OkHeaders);
            AddTrailers(withTrailers, call.Context.ResponseTrailers);
            headers = withTrailers;
        }

        return OperationResult.Complete(new IdempotencyResponse(StoredStatusCode, headers, call.SerializeResponse()));
    }

    /// <summary>
    /// Keeps the trailers the handler set, to be replayed with its answer (a binary one base64-encoded). Response headers
    /// a handler sends itself have gone out before the answer is known, so they are not kept: put what a retry needs in
    /// trailers or the message.
    /// </summary>
    private static void AddTrailers(List<KeyValuePair<string, string>> stored, Metadata trailers)
    {
        foreach (var entry in trailers)
        {
            if (entry.Key.StartsWith("grpc-", StringComparison.Ordinal) || entry.Key == IdempotencyMetadataKeys.Replayed)
            {
                continue;
            }

            stored.Add(new(TrailerPrefix + entry.Key, entry.IsBinary ? Convert.ToBase64String(entry.ValueBytes) : entry.Value));
        }
    }

    private static void ReplayTrailers(IdempotencyResponse stored, Metadata trailers)
    {
        foreach (var (name, value) in stored.Headers)
        {
            if (!name.StartsWith(TrailerPrefix, StringComparison.Ordinal))
            {
                continue;
            }

            var key = name[TrailerPrefix.Length..];
            if (key.EndsWith(Metadata.BinaryHeaderSuffix, StringComparison.Ordinal))
            {
                trailers.Add(key, Convert.FromBase64String(value));
            }
            else
            {
                trailers.Add(key, value);
            }
        }
    }

    private async Task<TResponse> ReplayAsync<TRequest, TResponse>(UnaryCall<TRequest, TResponse> call, IdempotencyResponse stored)
        where TRequest : class
        where TResponse : class
    {
        if (!TryReadStatus(stored, out var code, out var detail))
        {
            Log.StoredAnswerUnreadable(_logger, call.Context.Method);
            throw new RpcException(new Status(StatusCode.FailedPrecondition,
                "This idempotency key's stored answer is not a gRPC answer: the key was used for another kind of call. Do not retry with this key; use a new key."));
        }

        if (code != StatusCode.OK)
        {
            var failureTrailers = new Metadata { { IdempotencyMetadataKeys.Replayed, "true" } };
            ReplayTrailers(stored, failureTrailers);
            throw new RpcException(new Status(code, detail), failureTrailers);
        }

        var response = call.DeserializeResponse(stored.Body);
        await call.Context.WriteResponseHeadersAsync(new Metadata { { IdempotencyMetadataKeys.Replayed, "true" } }).ConfigureAwait(false);
        call.Context.ResponseTrailers.Add(IdempotencyMetadataKeys.Replayed, "true");
        ReplayTrailers(stored, call.Context.ResponseTrailers);
        return response;
    }

    private static bool TryReadStatus(IdempotencyResponse stored, out StatusCode code, out string detail)
    {
        code = StatusCode.OK;
        detail = string.Empty;
        var found = false;
        foreach (var (name, value) in stored.Headers)
        {
            if (name == StatusHeader && int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number))
            {
                code = (StatusCode)number;
                found = true;
            }
            else if (name == DetailHeader)
            {
                detail = value;
            }
        }

        return found && !stored.BodyTruncated;
    }

    private Metadata RetryTrailers() => new()
    {
        { IdempotencyMetadataKeys.RetryAfter, _retryAfterMilliseconds },
        { IdempotencyMetadataKeys.RetryPushback, _retryAfterMilliseconds },
    };

    /// <summary>Idem.AspNetCore's default without the API-key header: the principal's name identifier, else one anonymous scope.</summary>
    private static string DefaultScope(HttpContext context)
    {
        var user = context.Features.Get<IHttpAuthenticationFeature>()?.User;
        if (user?.Identity?.IsAuthenticated == true)
        {
            var id = user.FindFirstValue(ClaimTypes.NameIdentifier) ?? user.FindFirstValue("sub") ?? user.Identity.Name;
            if (!string.IsNullOrEmpty(id))
            {
                return "user:" + id;
            }
        }

        return "anonymous";
    }

    private static string DescribeKeyError(KeyError error) => error switch
    {
        KeyError.Empty => $"The '{IdempotencyMetadataKeys.Key}' metadata is empty.",
        KeyError.TooLong => $"The '{IdempotencyMetadataKeys.Key}' metadata is longer than allowed.",
        KeyError.InvalidCharacter => $"The '{IdempotencyMetadataKeys.Key}' metadata may hold only printable ASCII characters (0x21-0x7E).",
        KeyError.Multiple => $"Send exactly one '{IdempotencyMetadataKeys.Key}' entry with one value.",
        _ => $"The '{IdempotencyMetadataKeys.Key}' metadata is not a token or a quoted string.",
    };

    /// <summary>One call under a key: the executor's state, and what the handler answered.</summary>
    private sealed class UnaryCall<TRequest, TResponse>(TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation, Method<TRequest, TResponse>? method)
        where TRequest : class
        where TResponse : class
    {
        public TRequest Request { get; } = request;

        public ServerCallContext Context { get; } = context;

        public UnaryServerMethod<TRequest, TResponse> Continuation { get; } = continuation;

        public TResponse? Response { get; set; }

        public RpcException? Failure { get; set; }

        /// <summary>The method's full name and the request message's bytes, as its marshaller writes them.</summary>
        public string Fingerprint()
        {
            var body = method is not null ? MessageBytes.Serialize(method.RequestMarshaller, Request) : AsMessage(Request).ToByteArray();
            using var fingerprint = new RequestFingerprint();
            fingerprint.Add("grpc", Context.Method);
            fingerprint.AddBody(body, isJson: false);
            return fingerprint.Finish();
        }

        public byte[] SerializeResponse() => method is not null ? MessageBytes.Serialize(method.ResponseMarshaller, Response!) : AsMessage(Response!).ToByteArray();

        public TResponse DeserializeResponse(ReadOnlyMemory<byte> body)
        {
            if (method is not null)
            {
                return MessageBytes.Deserialize(method.ResponseMarshaller, body);
            }

            var message = AsMessage(Activator.CreateInstance<TResponse>());
            message.MergeFrom(body.Span);
            return (TResponse)message;
        }

        private static IMessage AsMessage(object message) => message as IMessage
            ?? throw new InvalidOperationException($"{typeof(TRequest).Name} and {typeof(TResponse).Name} are not protobuf messages and the call's endpoint names no marshaller for them.");
    }
}
