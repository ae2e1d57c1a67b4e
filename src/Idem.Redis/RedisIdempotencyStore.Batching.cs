using Idem.Storage;
using StackExchange.Redis;

namespace Idem.Redis;

/// <summary>
/// Batched claims and completions: one script call (<see cref="RedisScripts.ClaimMany"/>, <see cref="RedisScripts.CompleteMany"/>)
/// for the records of a batch that share a hash slot, so one server runs them in one go, at one server time. On a single
/// server that is the whole batch; on a Cluster, where each store key is its own hash tag, it is mostly one record per
/// call, and the calls of one batch go out together. In the durable mode, each call's writes are confirmed with one
/// <c>WAIT</c>.
/// </summary>
internal sealed partial class RedisIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException("There must be a result for each request.", nameof(results));
        }

        var members = new ReadOnlyMemory<byte>[requests.Length];
        var owners = new string[requests.Length];
        for (var i = 0; i < requests.Length; i++)
        {
            members[i] = ValidateRequest(requests.Span[i]);
            owners[i] = OwnerToken.New();
        }

        cancellationToken.ThrowIfCancellationRequested();
        var database = _database ?? await ConnectAsync().ConfigureAwait(false);
        var groups = BySlot(requests.Length, i => requests.Span[i].StoreKey);
        var calls = groups.Select(group => EvaluateByKeysAsync(
            database,
            RedisScripts.ClaimMany,
            [.. group.Select(i => (RedisKey)RecordKey(requests.Span[i].StoreKey))],
            [.. group.SelectMany(i => new RedisValue[]
            {
                requests.Span[i].Fingerprint, owners[i], Milliseconds(requests.Span[i].LeaseDuration), Milliseconds(requests.Span[i].Retention), _grace, members[i],
            })])).ToArray();

        var claimed = new List<int>();
        try
        {
            await Task.WhenAll(calls).ConfigureAwait(false);
            for (var g = 0; g < groups.Count; g++)
            {
                var answer = (RedisResult[])calls[g].Result!;
                for (var n = 0; n < groups[g].Count; n++)
                {
                    var i = groups[g][n];
                    var code = (int)answer[2 * n];
                    results.Span[i] = ClaimResultOf(requests.Span[i], owners[i], code, answer[(2 * n) + 1]);
                    if (code == 3)
                    {
                        claimed.Add(i);
                    }
                }
            }

            if (_replicated)
            {
                await Task.WhenAll(groups.Where(g => g.Any(claimed.Contains)).Select(g => ConfirmReplicatedAsync("claim", requests.Span[g[0]].StoreKey).AsTask())).ConfigureAwait(false);
            }
        }
        catch
        {
            // A call that failed claimed nothing; the others may have: give their keys back (best effort) so that no
            // request of the batch is held by an owner that never hears of it, then fail the batch.
            foreach (var (call, group) in calls.Zip(groups))
            {
                if (!call.IsCompletedSuccessfully)
                {
                    continue;
                }

                var answer = (RedisResult[])call.Result!;
                for (var n = 0; n < group.Count; n++)
                {
                    if ((int)answer[2 * n] == 3)
                    {
                        await ReleaseQuietlyAsync(requests.Span[group[n]].StoreKey, owners[group[n]]).ConfigureAwait(false);
                    }
                }
            }

            throw;
        }
    }

    /// <inheritdoc/>
    public async ValueTask CompleteManyAsync(
        ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default)
    {
        if (responses.Length < leases.Length || results.Length < leases.Length)
        {
            throw new ArgumentException("There must be a response and a result for each lease.", nameof(responses));
        }

        for (var i = 0; i < leases.Length; i++)
        {
            ArgumentNullException.ThrowIfNull(leases.Span[i], nameof(leases));
            ArgumentNullException.ThrowIfNull(responses.Span[i], nameof(responses));
        }

        var database = _database ?? await ConnectAsync().ConfigureAwait(false);
        var groups = BySlot(leases.Length, i => leases.Span[i].StoreKey);
        var calls = groups.Select(group => EvaluateByKeysAsync(
            database,
            RedisScripts.CompleteMany,
            [.. group.Select(i => (RedisKey)RecordKey(leases.Span[i].StoreKey))],
            [.. group.SelectMany(i => new RedisValue[]
            {
                leases.Span[i].OwnerToken, Milliseconds(leases.Span[i].Retention), _grace, IdempotencyResponseCodec.Encode(responses.Span[i]),
            })])).ToArray();

        await Task.WhenAll(calls).ConfigureAwait(false);
        for (var g = 0; g < groups.Count; g++)
        {
            var answer = (RedisResult[])calls[g].Result!;
            for (var n = 0; n < groups[g].Count; n++)
            {
                results.Span[groups[g][n]] = (int)answer[n] == 1 ? LeaseStatus.Ok : LeaseStatus.LeaseLost;
            }
        }

        if (_replicated)
        {
            await Task.WhenAll(groups.Where(g => g.Any(i => results.Span[i] == LeaseStatus.Ok)).Select(g => ConfirmReplicatedAsync("completion", leases.Span[g[0]].StoreKey).AsTask())).ConfigureAwait(false);
        }
    }

    private bool? _isCluster;

    private bool IsCluster()
    {
        var servers = _connection!.GetServers();
        var cluster = servers.Any(s => s.ServerType == ServerType.Cluster);
        if (servers.All(s => s.IsConnected))
        {
            _isCluster = cluster;
        }

        return cluster;
    }

    // The indices 0..count-1 grouped by the hash slot of their record (one group on a single server), in order within each.
    private List<List<int>> BySlot(int count, Func<int, string> storeKeyOf)
    {
        // Whether the store talks to a Cluster never changes while it runs: asked per batch only until every server has
        // answered (a server not yet connected has no known type), then kept.
        var cluster = _isCluster ?? IsCluster();
        var groups = new Dictionary<int, List<int>>();
        for (var i = 0; i < count; i++)
        {
            var slot = cluster ? _connection!.GetHashSlot(RecordKey(storeKeyOf(i))) : 0;
            if (!groups.TryGetValue(slot, out var group))
            {
                groups[slot] = group = [];
            }

            group.Add(i);
        }

        return [.. groups.Values];
    }
}
