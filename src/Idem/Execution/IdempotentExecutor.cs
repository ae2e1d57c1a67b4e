using System.Diagnostics;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem;

/// <summary>
/// The exactly-once flow: claim (or wait, then replay), run under a kept lease, then complete, or release on failure.
/// Standalone operations are here; transactional ones in the other part of this class.
/// </summary>
internal sealed partial class IdempotentExecutor : IIdempotentExecutor
{
    private static readonly TimeSpan FirstWait = TimeSpan.FromMilliseconds(20);
    private static readonly TimeSpan LongestWait = TimeSpan.FromMilliseconds(500);

    private readonly IIdempotencyStore _store;
    private readonly IdempotencyOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly IdempotencyMetrics _metrics;
    private readonly StoreBatcher? _batcher;

    public IdempotentExecutor(IIdempotencyStore store, IOptions<IdempotencyOptions> options, TimeProvider time, ILogger<IdempotentExecutor> logger, IdempotencyMetrics metrics)
    {
        _store = store;
        _options = options.Value;
        _time = time;
        _logger = logger;
        _metrics = metrics;
        _batcher = _options.Batching.Enabled && store is IBatchingStore batching ? new StoreBatcher(batching, _options.Batching, metrics) : null;
    }

    public ValueTask<IdempotentExecution> ExecuteAsync<TState>(
        IdempotentOperation operation, TState state, Func<IIdempotencyContext, TState, CancellationToken, ValueTask<OperationResult>> run, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(operation);
        ArgumentNullException.ThrowIfNull(run);
        return operation.Transactional
            ? RunTransactionalAsync(operation, state, run, cancellationToken)
            : RunStandaloneAsync(operation, state, run, cancellationToken);
    }

    private async ValueTask<IdempotentExecution> RunStandaloneAsync<TState>(
        IdempotentOperation operation, TState state, Func<IIdempotencyContext, TState, CancellationToken, ValueTask<OperationResult>> run, CancellationToken cancellationToken)
    {
        using var activity = IdempotencyMetrics.StartOperation();
        var request = operation.ToClaimRequest(_options);
        ClaimResult claim;
        try
        {
            // The first try needs no closure: the in-memory store answers synchronously, and only a key in progress
            // under WaitThenReplay needs the waiting loop.
            var first = Measure(ClaimAsync(request, cancellationToken));
            claim = first.IsCompletedSuccessfully ? first.Result : await first.ConfigureAwait(false);
            if (claim.Outcome == ClaimOutcome.InProgress && WaitsThenReplays(operation))
            {
                claim = await WaitThenClaimAsync(operation, claim, ct => Measure(ClaimAsync(request, ct)), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (IsStoreFailure(ex, cancellationToken))
        {
            return await StoreUnavailableAsync(operation, state, run, ex, activity, cancellationToken).ConfigureAwait(false);
        }

        if (claim.Outcome != ClaimOutcome.Claimed)
        {
            return Unclaimed(operation, claim, activity);
        }

        var lease = claim.Lease!;
        _metrics.Claimed();
        IdempotencyMetrics.SetOutcome(activity, "claimed");
        var scope = new OperationScope(operation.Key, operation.Fingerprint, _store, lease);
        var keeper = LeaseKeeper.Start(_store, lease, _time, _logger, _metrics);
        OperationResult result;
        try
        {
            using (scope.Enter())
            {
                result = await run(scope, state, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (IdempotencyLeaseLostException ex)
        {
            // Another caller took the key over and finishes the operation: nothing of ours to release.
            await keeper.DisposeAsync().ConfigureAwait(false);
            return LeaseLost(operation, ex, activity);
        }
        catch
        {
            await keeper.DisposeAsync().ConfigureAwait(false);
            await ReleaseAsync(lease).ConfigureAwait(false);
            throw;
        }

        await keeper.DisposeAsync().ConfigureAwait(false);
        if (result.IsAbandoned)
        {
            // The outcome is unknown: the key stays in progress until its lease ends, as if this caller had crashed.
            _metrics.Abandoned();
            IdempotencyMetrics.SetOutcome(activity, "abandoned");
            Log.Abandoned(_logger, lease.StoreKey, lease.LeaseDuration);
        }
        else if (result.Response is null)
        {
            await ReleaseAsync(lease).ConfigureAwait(false);
        }
        else
        {
            await CompleteAsync(lease, result.Response).ConfigureAwait(false);
        }

        return IdempotentExecution.Executed(result.Response, scope.RecoveryPoint);
    }

    private async ValueTask<IdempotentExecution> StoreUnavailableAsync<TState>(
        IdempotentOperation operation, TState state, Func<IIdempotencyContext, TState, CancellationToken, ValueTask<OperationResult>> run, Exception exception, Activity? activity, CancellationToken cancellationToken)
    {
        _metrics.StoreFailed();
        activity?.SetStatus(ActivityStatusCode.Error, exception.Message);
        if ((operation.StoreFailure ?? _options.StoreFailure) == StoreFailureHandling.FailOpen && !operation.Transactional)
        {
            Log.FailingOpen(_logger, operation.StoreKey);
            var unguarded = OperationScope.Unguarded(operation.Key, operation.Fingerprint);
            OperationResult result;
            using (unguarded.Enter())
            {
                result = await run(unguarded, state, cancellationToken).ConfigureAwait(false);
            }

            return IdempotentExecution.Executed(result.Response, unguarded.RecoveryPoint, guarded: false);
        }

        Log.StoreFailed(_logger, operation.StoreKey, exception);
        IdempotencyMetrics.SetOutcome(activity, "store_unavailable");
        return IdempotentExecution.StoreUnavailable(exception, ran: false, recoveryPoint: null);
    }

    private IdempotentExecution Unclaimed(IdempotentOperation operation, ClaimResult claim, Activity? activity)
    {
        switch (claim.Outcome)
        {
            case ClaimOutcome.Completed:
                _metrics.Replayed();
                IdempotencyMetrics.SetOutcome(activity, "replayed");
                Log.Replaying(_logger, operation.StoreKey);
                return IdempotentExecution.Replayed(claim.Response!);
            case ClaimOutcome.Mismatch:
                _metrics.Mismatched();
                IdempotencyMetrics.SetOutcome(activity, "mismatch");
                Log.Mismatch(_logger, operation.StoreKey);

                // Only now are the request's members hashed, if the claim did not need them: a mismatch is rare.
                return IdempotentExecution.Mismatch(operation.TryCompareMembers(claim.MemberDigest, out var fields) ? fields : null);
            default:
                _metrics.Conflicted();
                IdempotencyMetrics.SetOutcome(activity, "in_progress");
                Log.InProgress(_logger, operation.StoreKey);
                return IdempotentExecution.InProgress(claim.RetryAfter);
        }
    }

    private IdempotentExecution LeaseLost(IdempotentOperation operation, IdempotencyLeaseLostException exception, Activity? activity)
    {
        _metrics.LeaseLost();
        IdempotencyMetrics.SetOutcome(activity, "lease_lost");
        Log.OperationLeaseLost(_logger, operation.StoreKey, exception);
        return IdempotentExecution.LeaseLost(exception);
    }

    private bool WaitsThenReplays(IdempotentOperation operation)
        => (operation.ConcurrentRequests ?? _options.ConcurrentRequests) == ConcurrentRequestHandling.WaitThenReplay;

    /// <summary>Claims again, backing off, while the key stays in progress and the wait has time left.</summary>
    private async ValueTask<ClaimResult> WaitThenClaimAsync(
        IdempotentOperation operation, ClaimResult result, Func<CancellationToken, ValueTask<ClaimResult>> claim, CancellationToken cancellationToken)
    {
        var deadline = _time.GetUtcNow() + (operation.ConcurrentWaitTimeout ?? _options.ConcurrentWaitTimeout);
        var delay = FirstWait;
        while (result.Outcome == ClaimOutcome.InProgress && _time.GetUtcNow() < deadline)
        {
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LongestWait.Ticks));
            result = await claim(cancellationToken).ConfigureAwait(false);
        }

        return result;
    }

    private async ValueTask CompleteAsync(IdempotencyLease lease, IdempotencyResponse response)
    {
        // The effect happened: record it even if the caller gave up, and try hard before giving up.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var completed = _batcher is { } batcher
                    ? new ValueTask<LeaseStatus>(batcher.CompleteAsync(lease, response))
                    : _store.CompleteAsync(lease, response, CancellationToken.None);
                if (await Measure(completed).ConfigureAwait(false) == LeaseStatus.LeaseLost)
                {
                    _metrics.LeaseLost();
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
                // The key stays in progress until its lease ends; duplicates are refused as in progress meanwhile.
                _metrics.StoreFailed();
                Log.CompleteFailed(_logger, lease.StoreKey, attempt, ex);
                return;
            }
        }
    }

    // One claim, in the next batch when batching is on.
    private ValueTask<ClaimResult> ClaimAsync(ClaimRequest request, CancellationToken cancellationToken)
    {
        if (_batcher is null)
        {
            return _store.TryClaimAsync(request, cancellationToken);
        }

        cancellationToken.ThrowIfCancellationRequested();
        return new ValueTask<ClaimResult>(_batcher.ClaimAsync(request));
    }

    private async ValueTask ReleaseAsync(IdempotencyLease lease)
    {
        try
        {
            if (await Measure(_store.ReleaseAsync(lease, CancellationToken.None)).ConfigureAwait(false) == LeaseStatus.LeaseLost)
            {
                _metrics.LeaseLost();
                Log.ReleaseLeaseLost(_logger, lease.StoreKey);
            }
            else
            {
                _metrics.Released();
            }
        }
        catch (Exception ex)
        {
            _metrics.StoreFailed();
            Log.ReleaseFailed(_logger, lease.StoreKey, ex);
        }
    }

    // Anything the store throws counts as unavailable, except the caller's own cancellation while we waited on it.
    private static bool IsStoreFailure(Exception ex, CancellationToken cancellationToken)
        => !(ex is OperationCanceledException && cancellationToken.IsCancellationRequested);

    // Timing costs an async frame per call: pay it only while someone listens to the histogram.
    private ValueTask<T> Measure<T>(ValueTask<T> call) => _metrics.TimesStoreCalls ? MeasureAsync(call) : call;

    private async ValueTask<T> MeasureAsync<T>(ValueTask<T> call)
    {
        var start = _time.GetTimestamp();
        try
        {
            return await call.ConfigureAwait(false);
        }
        finally
        {
            _metrics.StoreCall(_time.GetElapsedTime(start));
        }
    }
}
