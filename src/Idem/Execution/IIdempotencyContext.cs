using Idem.Storage;

namespace Idem;

/// <summary>
/// The claimed idempotency key of the operation that runs: where an earlier attempt left off, and how to record
/// progress. <see cref="IIdempotentExecutor"/> hands it to the operation; inside an ASP.NET Core endpoint protected by
/// <c>RequireIdempotency()</c> or <c>[Idempotent]</c> it is resolved from DI while the request's key is claimed.
/// </summary>
/// <remarks>
/// <para>
/// An operation with a step outside its own database (a payment processor, an email provider) cannot be one transaction.
/// It runs as atomic phases instead: each phase ends with <see cref="CommitPhaseAsync"/>, which makes its writes and a
/// named recovery point durable together. From the first recovery point on, a failure neither forgets the key nor
/// completes it: a 5xx response, an exception or a crash leaves the key at its last point, and the next request with the
/// same key and body (or a background job that takes it over) sees that point in <see cref="RecoveryPoint"/> and resumes
/// there instead of starting again. Each phase after the first must therefore be safe to run again from its point: call
/// the outside service with a key of your own derived from what the first phase created, never the client's key.
/// </para>
/// <para>
/// In transactional mode, <see cref="CommitPhaseAsync"/> commits the request's transaction
/// (<see cref="Transaction"/>) with the point and leaves no transaction open, so nothing is locked
/// while the outside call runs; <see cref="BeginPhaseAsync"/> opens the next one. In standalone mode the operation's
/// writes are its own business, and <see cref="CommitPhaseAsync"/> records the point in the store.
/// </para>
/// </remarks>
public interface IIdempotencyContext
{
    /// <summary>
    /// The operation that runs on this asynchronous flow under its claimed key, or null outside one: for integrations
    /// that cannot take it from DI (an Entity Framework Core context joining the operation's transaction, say).
    /// </summary>
    static IIdempotencyContext? Current => OperationScope.Current;

    /// <summary>The idempotency key, as the caller gave it (never the whole store key).</summary>
    string Key { get; }

    /// <summary>
    /// The fingerprint of the request the key is bound to (a lowercase hex SHA-256 for HTTP requests and for
    /// <see cref="IdempotentOperation.Create{TInput}"/>): record it beside what the operation writes to tie each write to
    /// exactly one client request.
    /// </summary>
    string Fingerprint { get; }

    /// <summary>
    /// The connection and transaction of a transactional operation, which every write of the operation must join; null
    /// in standalone mode. Between two phases it is there, but holds no open transaction until <see cref="BeginPhaseAsync"/>.
    /// </summary>
    IIdempotencyTransaction? Transaction { get; }

    /// <summary>
    /// The last recovery point recorded for this key: by an earlier attempt that stopped there (a failure, a crash) or by
    /// this request; null when none was ever recorded, that is, when the operation starts from the beginning.
    /// </summary>
    string? RecoveryPoint { get; }

    /// <summary>
    /// Records that the operation reached <paramref name="recoveryPoint"/>, a short name of your choosing such as
    /// <c>payment_created</c>; in transactional mode, commits the writes so far together with it. Throws
    /// <see cref="IdempotencyLeaseLostException"/> when another request has taken the key over (the lease
    /// ran out): stop, that request finishes the operation.
    /// </summary>
    ValueTask CommitPhaseAsync(string recoveryPoint, CancellationToken cancellationToken = default);

    /// <summary>
    /// Opens the next phase's transaction after <see cref="CommitPhaseAsync"/> in transactional mode (on a
    /// standalone one, only checks the key is still held). Throws <see cref="IdempotencyLeaseLostException"/>
    /// when another request has taken the key over.
    /// </summary>
    ValueTask BeginPhaseAsync(CancellationToken cancellationToken = default);
}
