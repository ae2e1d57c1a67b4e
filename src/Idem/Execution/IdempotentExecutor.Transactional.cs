using Idem.Storage;

namespace Idem;

/// <summary>Transactional operations: the claim, the operation's writes and its result commit in one transaction.</summary>
internal sealed partial class IdempotentExecutor
{
    private GroupCommitter? _groupCommitter;

    // One committer per executor, made on first use: an executor has one store.
    private GroupCommitter GroupCommitterFor(ITransactionalIdempotencyStore store)
    {
        if (store is not IGroupCommitStore group)
        {
            throw new InvalidOperationException(
                $"The operation asks for group commit, but the registered idempotency store ({store.GetType().Name}) does not support it. Use the SQLite or PostgreSQL store.");
        }

        return LazyInitializer.EnsureInitialized(ref _groupCommitter, () => new GroupCommitter(group, _options.GroupCommit, _metrics));
    }

    private async ValueTask<IdempotentExecution> RunTransactionalAsync<TState>(
        IdempotentOperation operation, TState state, Func<IIdempotencyContext, TState, CancellationToken, ValueTask<OperationResult>> run, CancellationToken cancellationToken)
    {
        if (_store is not ITransactionalIdempotencyStore store)
        {
            throw new InvalidOperationException(
                $"The operation '{operation.StoreKey}' is transactional, but the registered idempotency store ({_store.GetType().Name}) has no transactional mode. Use a SQL store.");
        }

        using var activity = IdempotencyMetrics.StartOperation();
        var request = operation.ToClaimRequest(_options);
        TransactionalClaim? held = null;
        ClaimResult claim;
        try
        {
            var group = operation.GroupCommit ? GroupCommitterFor(store) : null;
            async ValueTask<ClaimResult> BeginAsync(CancellationToken ct)
            {
                var begun = group is null
                    ? await Measure(store.BeginTransactionalAsync(request, ct)).ConfigureAwait(false)
                    : await group.BeginAsync(request, ct).ConfigureAwait(false);
                if (begun.Result.Outcome == ClaimOutcome.Claimed)
                {
                    held = begun;
                }
                else
                {
                    await begun.DisposeAsync().ConfigureAwait(false);
                }

                return begun.Result;
            }

            claim = await BeginAsync(cancellationToken).ConfigureAwait(false);
            if (claim.Outcome == ClaimOutcome.InProgress && WaitsThenReplays(operation))
            {
                claim = await WaitThenClaimAsync(operation, claim, BeginAsync, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsStoreFailure(ex, cancellationToken))
        {
            // Never fails open: the operation's writes need the store's own database.
            return await StoreUnavailableAsync(operation, state, run, ex, activity, cancellationToken).ConfigureAwait(false);
        }

        if (held is null)
        {
            return Unclaimed(operation, claim, activity);
        }

        await using (held.ConfigureAwait(false))
        {
            _metrics.Claimed();
            IdempotencyMetrics.SetOutcome(activity, "claimed");
            var scope = new OperationScope(operation.Key, operation.Fingerprint, _store, held, _time, _logger, _metrics);
            OperationResult result;
            try
            {
                try
                {
                    using (scope.Enter())
                    {
                        result = await run(scope, state, cancellationToken).ConfigureAwait(false);
                    }
                }
                finally
                {
                    // No renewal may run once the claim commits or rolls back: it would find the key no longer held.
                    await scope.StopRenewingAsync().ConfigureAwait(false);
                }
            }
            catch (IdempotencyLeaseLostException ex)
            {
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                return LeaseLost(operation, ex, activity);
            }
            catch
            {
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                _metrics.Released();
                throw;
            }

            if (result.Response is null)
            {
                await held.RollbackAsync(CancellationToken.None).ConfigureAwait(false);
                _metrics.Released();
                return IdempotentExecution.Executed(null, scope.RecoveryPoint);
            }

            try
            {
                // Not the caller's token: a caller that gave up must not undo what happened.
                await held.CommitAsync(result.Response, CancellationToken.None).ConfigureAwait(false);
            }
            catch (IdempotencyLeaseLostException ex)
            {
                return LeaseLost(operation, ex, activity);
            }
            catch (Exception ex)
            {
                Log.CommitFailed(_logger, operation.StoreKey, ex);
                _metrics.StoreFailed();
                IdempotencyMetrics.SetOutcome(activity, "store_unavailable");
                return IdempotentExecution.StoreUnavailable(ex, ran: true, scope.RecoveryPoint);
            }

            return IdempotentExecution.Executed(result.Response, scope.RecoveryPoint);
        }
    }
}
