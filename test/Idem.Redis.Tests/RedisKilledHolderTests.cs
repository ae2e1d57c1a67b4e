using Idem.Testing;
using Xunit.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Redis.Tests;

/// <summary>
/// A process holding a key on Redis is killed (SIGKILL) after its recovery point: the key frees itself when the default
/// lease runs out, and the retry resumes at the point (see <see cref="KilledHolder"/>). Takes about a lease (30 s).
/// </summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisKilledHolderTests(ITestOutputHelper output)
{
    [Fact]
    public Task Retry_HolderKilledAfterRecoveryPoint_ResumesOnceWhenTheDefaultLeaseRunsOut() => RunAsync(batching: false);

    [Fact]
    public Task Retry_BatchingHolderKilledAfterRecoveryPoint_ResumesOnceWhenTheDefaultLeaseRunsOut() => RunAsync(batching: true);

    // With batching, the killed holder claimed its key in a batch, and the retry claims and completes through batches.
    private async Task RunAsync(bool batching)
    {
        var configuration = RedisServer.Configuration;
        var prefix = RedisServer.NewPrefix();
        var redis = (await RedisServer.ConnectAsync()).GetDatabase();

        // The worker counts its effect in <prefix>effects; one prefix per test, so the count is this key's.
        var held = await KilledHolder.RetryAfterKillAsync(
            batching ? "redis-batched" : "redis",
            configuration,
            prefix,
            idempotency =>
            {
                idempotency.Services.Configure<IdempotencyOptions>(o => o.Batching.Enabled = batching);
                idempotency.AddRedisStore(configuration, o => o.KeyPrefix = prefix);
            },
            _ => redis.StringIncrementAsync(prefix + "effects"),
            async _ => (long)await redis.StringGetAsync(prefix + "effects"));
        output.WriteLine($"The killed holder's key was held {held.TotalSeconds:F1} s after the kill.");
    }
}
