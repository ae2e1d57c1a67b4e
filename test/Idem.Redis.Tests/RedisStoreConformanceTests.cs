using Idem.Storage;
using Idem.Storage.ConformanceTests;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace Idem.Redis.Tests;

/// <summary>
/// The Redis store against the whole conformance suite on the real server, on a connection the test owns. Its clock is
/// Redis's, so time passes for real: short leases keep the suite quick (Retention = 3 × Lease = 18 × Tick).
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisStoreConformanceTests : StoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.RaceRounds;

    protected override async ValueTask<IIdempotencyStore> CreateStoreAsync()
        => new RedisIdempotencyStore(await RedisServer.ConnectAsync(), new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix() }, NullLogger<RedisIdempotencyStore>.Instance);
}

/// <summary>
/// The suite once more, on a store registered the way an application registers it: <c>AddRedisStore</c> with a
/// configuration string, so the store makes its own fail-fast connection.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisRegisteredConformanceTests : RegisteredStoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.RaceRounds;

    protected override void Register(IIdempotencyBuilder builder)
        => builder.AddRedisStore(RedisServer.Configuration, o => o.KeyPrefix = RedisServer.NewPrefix());
}

/// <summary>The real-time durations the conformance suite runs with on the Redis clock.</summary>
internal static class RedisTiming
{
    // Larger than a store call under the suite's own load (64-way races in two classes at once on two cores).
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan Lease = 6 * Tick;
    public static readonly TimeSpan Retention = 3 * Lease;

    // Each of the two classes races 25 rounds of 64 claimers (the suite's 50 between them), in parallel with each other.
    public const int RaceRounds = 25;

    // The two cluster classes run beside the two above: fewer rounds each, the same 64 claimers per round.
    public const int ClusterRaceRounds = 10;
}

internal sealed class TestBuilder(IServiceCollection services) : IIdempotencyBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>
/// The suite on the real Redis Cluster (three primaries, a replica each), through StackExchange.Redis's cluster support:
/// every test's keys hash to their own slots, spread over all three primaries.
/// </summary>
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterConformanceTests : StoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.ClusterRaceRounds;

    protected override async ValueTask<IIdempotencyStore> CreateStoreAsync()
        => new RedisIdempotencyStore(await RedisCluster.ConnectAsync(), new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix() }, NullLogger<RedisIdempotencyStore>.Instance);
}

/// <summary>
/// The suite on the cluster once more, registered as an application registers it, with
/// <see cref="RedisDurability.Replicated"/>: every claim, completion and renewal waits for the key's replica.
/// </summary>
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterReplicatedConformanceTests : RegisteredStoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.ClusterRaceRounds;

    protected override void Register(IIdempotencyBuilder builder)
        => builder.AddRedisStore(RedisCluster.Configuration, o =>
        {
            o.KeyPrefix = RedisServer.NewPrefix();
            o.Durability = RedisDurability.Replicated;
        });
}

/// <summary>
/// The suite through batched claims and completions on the single server: a batch is one script call, and the
/// executor's tests run with batching on.
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisBatchingConformanceTests : BatchingStoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.ClusterRaceRounds;

    protected override async ValueTask<IBatchingStore> CreateBatchingStoreAsync()
        => new RedisIdempotencyStore(await RedisServer.ConnectAsync(), new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix() }, NullLogger<RedisIdempotencyStore>.Instance);
}

/// <summary>
/// The suite through batched claims and completions on the Cluster in the durable mode: a batch is one script call per
/// hash slot, and each call's writes are confirmed by one WAIT on that slot's primary.
/// </summary>
[Trait("Category", RedisCluster.Category)]
public sealed class RedisClusterBatchingConformanceTests : BatchingStoreConformanceTests
{
    protected override TimeSpan Lease => RedisTiming.Lease;

    protected override TimeSpan Retention => RedisTiming.Retention;

    protected override TimeSpan Tick => RedisTiming.Tick;

    protected override int RaceRounds => RedisTiming.ClusterRaceRounds;

    protected override async ValueTask<IBatchingStore> CreateBatchingStoreAsync()
        => new RedisIdempotencyStore(
            await RedisCluster.ConnectAsync(),
            new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix(), Durability = RedisDurability.Replicated },
            NullLogger<RedisIdempotencyStore>.Instance);
}
