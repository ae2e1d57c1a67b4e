using System.Globalization;
using Grpc.Core;
using Grpc.Core.Interceptors;

namespace Idem.Grpc;

/// <summary>
/// Gives every unary call one idempotency key: the caller's own <c>idempotency-key</c> metadata when it set one, else a
/// new random key. Add it to a client with <c>channel.Intercept(new IdempotencyClientInterceptor())</c> or
/// <c>services.AddGrpcClient&lt;T&gt;(…).AddInterceptor(() =&gt; new IdempotencyClientInterceptor())</c>.
/// </summary>
/// <remarks>
/// <para>
/// The key is made once per logical call, before its first attempt, and kept in the call's options. A retry policy of
/// the channel (<c>ServiceConfig</c> with a <c>RetryPolicy</c>) retries beneath the interceptor with the same metadata,
/// so every attempt carries the same key; include <c>Aborted</c> (the first attempt is still running) and
/// <c>Unavailable</c> in its retryable codes, and it honours the server's pushback trailer.
/// </para>
/// <para>
/// A retry loop of the caller's own makes a new call each time; to keep one key across it, pass the same
/// <see cref="Metadata"/> to every attempt: the interceptor writes the key it made into that (writable) metadata, so the
/// next attempt finds and sends it. Or make the key yourself (<see cref="NewKey"/>) and set it, and store it with the
/// operation if the caller itself may crash and try again.
/// </para>
/// </remarks>
public sealed class IdempotencyClientInterceptor : Interceptor
{
    private readonly Func<string> _newKey;

    /// <summary>Makes keys with <see cref="NewKey"/>.</summary>
    public IdempotencyClientInterceptor()
        : this(NewKey)
    {
    }

    /// <summary>Makes keys with <paramref name="newKey"/>, which must return 1–255 printable ASCII characters.</summary>
    public IdempotencyClientInterceptor(Func<string> newKey) => _newKey = newKey ?? throw new ArgumentNullException(nameof(newKey));

    /// <summary>A new key: a random GUID as 32 hex digits.</summary>
    public static string NewKey() => Guid.NewGuid().ToString("N", CultureInfo.InvariantCulture);

    /// <inheritdoc/>
    public override AsyncUnaryCall<TResponse> AsyncUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, AsyncUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(request, WithKey(context));
    }

    /// <inheritdoc/>
    public override TResponse BlockingUnaryCall<TRequest, TResponse>(TRequest request, ClientInterceptorContext<TRequest, TResponse> context, BlockingUnaryCallContinuation<TRequest, TResponse> continuation)
    {
        ArgumentNullException.ThrowIfNull(continuation);
        return continuation(request, WithKey(context));
    }

    private ClientInterceptorContext<TRequest, TResponse> WithKey<TRequest, TResponse>(ClientInterceptorContext<TRequest, TResponse> context)
        where TRequest : class
        where TResponse : class
    {
        var headers = context.Options.Headers;
        if (headers?.Get(IdempotencyMetadataKeys.Key) is not null)
        {
            return context;
        }

        var key = _newKey();
        if (headers is { IsReadOnly: false })
        {
            // Kept in the caller's own metadata: a retry loop that passes it again sends the same key.
            headers.Add(IdempotencyMetadataKeys.Key, key);
            return context;
        }

        var copy = new Metadata();
        if (headers is not null)
        {
            foreach (var entry in headers)
            {
                copy.Add(entry);
            }
        }

        copy.Add(IdempotencyMetadataKeys.Key, key);
        return new ClientInterceptorContext<TRequest, TResponse>(context.Method, context.Host, context.Options.WithHeaders(copy));
    }
}
