using Idem.Storage;

namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>
/// Wraps a store and records what the middleware asked of it, so tests can wait for a step (a claim found in progress,
/// a completion) instead of sleeping.
/// </summary>
internal sealed class RecordingStore(IIdempotencyStore inner) : IIdempotencyStore
{
    private readonly Lock _gate = new();
    private readonly List<ClaimOutcome> _claims = [];
    private readonly List<IdempotencyResponse> _completed = [];
    private readonly List<(Func<RecordingStore, bool> Condition, TaskCompletionSource Signal)> _waiters = [];
    private int _released;

    public IIdempotencyStore Inner => inner;

    public IReadOnlyList<IdempotencyResponse> Completed
    {
        get
        {
            lock (_gate)
            {
                return [.. _completed];
            }
        }
    }

    public int Released
    {
        get
        {
            lock (_gate)
            {
                return _released;
            }
        }
    }

    public int Claims(ClaimOutcome outcome)
    {
        lock (_gate)
        {
            return _claims.Count(c => c == outcome);
        }
    }

    /// <summary>Completes when <paramref name="condition"/> holds (checked now and after every recorded step).</summary>
    public Task WhenAsync(Func<RecordingStore, bool> condition)
    {
        lock (_gate)
        {
            if (condition(this))
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((condition, signal));
            return signal.Task.WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    public async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        var result = await inner.TryClaimAsync(request, cancellationToken);
        Record(() => _claims.Add(result.Outcome));
        return result;
    }

    public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        var status = await inner.CompleteAsync(lease, response, cancellationToken);
        Record(() => _completed.Add(response));
        return status;
    }

    public async ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        var status = await inner.ReleaseAsync(lease, cancellationToken);
        Record(() => _released++);
        return status;
    }

    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => inner.RenewAsync(lease, cancellationToken);

    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => inner.SetRecoveryPointAsync(lease, recoveryPoint, cancellationToken);

    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => inner.GetAsync(storeKey, cancellationToken);

    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => inner.PurgeAsync(expiredBefore, batchSize, cancellationToken);

    private void Record(Action change)
    {
        lock (_gate)
        {
            change();
            for (var i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Condition(this))
                {
                    _waiters[i].Signal.TrySetResult();
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}

/// <summary>A store that cannot be reached: every call throws, as a dropped connection would.</summary>
internal sealed class UnreachableStore : IIdempotencyStore
{
    private int _calls;

    public int Calls => Volatile.Read(ref _calls);

    public ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default) => Fail<ClaimResult>();

    public ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default) => Fail<LeaseStatus>();

    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Fail<LeaseStatus>();

    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default) => Fail<LeaseStatus>();

    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default) => Fail<LeaseStatus>();

    public ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default) => Fail<IdempotencyRecord?>();

    public ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default) => Fail<int>();

    private ValueTask<T> Fail<T>()
    {
        Interlocked.Increment(ref _calls);
        return ValueTask.FromException<T>(new TimeoutException("The idempotency store did not answer."));
    }
}
