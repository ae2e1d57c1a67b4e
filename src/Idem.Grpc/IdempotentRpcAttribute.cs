namespace Idem.Grpc;

/// <summary>
/// Marks a unary gRPC method (or every unary method of a service, on the class) as idempotent: a call carrying
/// <c>idempotency-key</c> metadata runs once, and every retry with the key gets the first call's answer. Needs
/// <c>services.AddGrpc().AddIdempotency()</c> and a store. The same metadata can be put on a whole service's endpoints
/// with <c>app.MapGrpcService&lt;T&gt;().WithMetadata(new IdempotentRpcAttribute())</c>.
/// </summary>
/// <remarks>
/// Lease and retention come from <see cref="IdempotencyOptions"/>, the key's maximum length from
/// <see cref="Idem.AspNetCore.IdempotencyHttpOptions"/>. Streaming methods are never
/// deduplicated: the attribute is ignored on them.
/// </remarks>
[AttributeUsage(AttributeTargets.Class | AttributeTargets.Method, AllowMultiple = false, Inherited = true)]
public sealed class IdempotentRpcAttribute : Attribute
{
    /// <summary>
    /// Whether a call without a key is refused with <c>InvalidArgument</c>. Default true. When false, a keyless call runs
    /// undeduplicated, on its own.
    /// </summary>
    public bool KeyRequired { get; set; } = true;

    /// <summary>
    /// Runs the method in one database transaction with its claim and its stored answer (SQL stores only): the method
    /// writes through <c>IIdempotencyTransaction</c> resolved from DI. Default false.
    /// </summary>
    public bool Transactional { get; set; }

    /// <summary>
    /// A call whose key is still running waits for the first one (up to <see cref="IdempotencyOptions.ConcurrentWaitTimeout"/>)
    /// and gets its answer, instead of <c>Aborted</c> at once. Default: <see cref="IdempotencyOptions.ConcurrentRequests"/>.
    /// </summary>
    public bool WaitForConcurrent { get; set; }
}
