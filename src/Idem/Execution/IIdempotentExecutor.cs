namespace Idem;

/// <summary>
/// Runs operations exactly once under an idempotency key, on the registered store: claims the key (or finds it in
/// progress, completed or bound to another operation), keeps the claim's lease while the operation runs, records its
/// recovery points, and stores its result or releases the key when it fails. Every front of Idem (the ASP.NET Core
/// middleware, gRPC, background jobs) runs through it; so can any code of yours. Registered by <c>AddIdempotency()</c>.
/// </summary>
/// <remarks>
/// <para>
/// Two callers with the same key never both run the operation: the second gets <see cref="IdempotentOutcome.InProgress"/>
/// while the first runs (or, with <see cref="ConcurrentRequestHandling.WaitThenReplay"/>, waits for it), and the stored
/// result once it has finished. A caller that crashed while holding the key loses it when its lease runs out; the next
/// caller takes it over at the last recovery point.
/// </para>
/// <para>
/// The store failing is never an exception: it is <see cref="IdempotentOutcome.StoreUnavailable"/>, and the operation did
/// not run (unless it fails open). An exception the operation throws releases the key (in transactional mode, rolls its
/// writes back) and is rethrown.
/// </para>
/// </remarks>
public interface IIdempotentExecutor
{
    /// <summary>
    /// Runs <paramref name="run"/> under <paramref name="operation"/>'s key, unless it already ran or is running, and
    /// stores what it returns. <paramref name="state"/> is handed to it, so a caller needs no closure.
    /// </summary>
    /// <param name="operation">The key, fingerprint and settings.</param>
    /// <param name="state">Anything the operation needs.</param>
    /// <param name="run">The operation: returns the result to store, or <see cref="OperationResult.Release"/>.</param>
    /// <param name="cancellationToken">The caller's token: it cancels waiting and the operation, never the storing of a result.</param>
    ValueTask<IdempotentExecution> ExecuteAsync<TState>(
        IdempotentOperation operation,
        TState state,
        Func<IIdempotencyContext, TState, CancellationToken, ValueTask<OperationResult>> run,
        CancellationToken cancellationToken = default);
}
