using System.Text;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Idem.Redis.Tests;

/// <summary>What the Redis store keeps on the server, and how: keys, hash tags, the record's bytes, expiry.</summary>
[Trait("Category", RedisServer.Category)]
public sealed class RedisIdempotencyStoreTests
{
    private const string Fingerprint = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan Retention = TimeSpan.FromHours(1);

    [Fact]
    public async Task RecordKey_StoreKeyWithBraces_IsWholeHashTagAndStaysDistinct()
    {
        var (store, connection, _) = await CreateSutAsync();

        var routeKey = store.RecordKey("t/POST//v1/transfers/{id}/k1");
        var escapedLookalike = store.RecordKey("t/POST//v1/transfers/%7Bid%7D/k1");

        Assert.EndsWith("{t/POST//v1/transfers/%7Bid%7D/k1}", routeKey, StringComparison.Ordinal);
        Assert.NotEqual(routeKey, escapedLookalike);

        // The hash tag runs from the prefix's brace to the last character: the slot is the store key's alone, whatever the
        // prefix, and any key later kept beside the record under the same tag shares it.
        var tag = routeKey[routeKey.IndexOf('{', StringComparison.Ordinal)..];
        Assert.Equal(1, tag.Count(c => c == '{'));
        Assert.Equal(1, tag.Count(c => c == '}'));
        Assert.EndsWith("}", tag, StringComparison.Ordinal);
        Assert.Equal(connection.HashSlot(tag[1..^1]), connection.HashSlot(routeKey));
        Assert.Equal(connection.HashSlot(routeKey), connection.HashSlot("other:" + tag + ":beside"));
    }

    [Fact]
    public async Task Claim_WritesOneKeyUnderThePrefix_ExpiringAfterLeaseAndRetentionPlusGrace()
    {
        var (store, connection, prefix) = await CreateSutAsync(o => o.ExpiryGrace = TimeSpan.FromMinutes(2));
        var storeKey = NewStoreKey();

        await ClaimAsync(store, storeKey);

        var keys = await KeysAsync(connection, prefix);
        Assert.Equal([store.RecordKey(storeKey)], keys);
        var ttl = await connection.GetDatabase().KeyTimeToLiveAsync(keys[0]);
        Assert.NotNull(ttl);
        Assert.InRange(ttl.Value, Retention + TimeSpan.FromMinutes(2) - TimeSpan.FromSeconds(30), Retention + TimeSpan.FromMinutes(2));
    }

    [Fact]
    public async Task Complete_StoresCompactVersionedBytes()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var lease = await ClaimAsync(store, storeKey);
        var response = new IdempotencyResponse(201, [new("Location", "/v1/orders/7"), new("Content-Type", "application/json")], "{\"id\":7}"u8.ToArray());

        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, response));

        byte[] value = (await connection.GetDatabase().StringGetAsync(store.RecordKey(storeKey)))!;
        var encoded = IdempotencyResponseCodec.Encode(response);

        // version, state, 3 times, fingerprint with its length, an empty owner, then the response exactly as the codec wrote it.
        Assert.Equal(RedisRecord.Version, value[0]);
        Assert.Equal(1, value[1]);
        Assert.Equal(RedisRecord.HeaderLength + 1 + Fingerprint.Length + 1 + encoded.Length, value.Length);
        Assert.Equal(Fingerprint, Encoding.ASCII.GetString(value, RedisRecord.HeaderLength + 1, Fingerprint.Length));
        Assert.Equal(0, value[RedisRecord.HeaderLength + 1 + Fingerprint.Length]);
        Assert.Equal(encoded, value[^encoded.Length..]);
    }

    [Fact]
    public async Task Claim_RecordOfUnknownVersion_FailsAndLeavesItAlone()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var future = new byte[64];
        future[0] = 2;
        await connection.GetDatabase().StringSetAsync(store.RecordKey(storeKey), future, TimeSpan.FromMinutes(1));

        var error = await Assert.ThrowsAsync<RedisServerException>(async () => await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention)));

        Assert.Contains("unknown record format 2", error.Message, StringComparison.Ordinal);
        Assert.Equal(future, (byte[])(await connection.GetDatabase().StringGetAsync(store.RecordKey(storeKey)))!);
    }

    [Fact]
    public async Task Get_Record_DatesFromTheServerClock()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var server = connection.GetServers().First(s => !s.IsReplica);

        var before = await server.TimeAsync();
        await ClaimAsync(store, storeKey);
        var after = await server.TimeAsync();
        var record = await store.GetAsync(storeKey);

        Assert.NotNull(record);
        Assert.InRange(record.CreatedAt, new DateTimeOffset(before).AddMilliseconds(-1), new DateTimeOffset(after).AddMilliseconds(1));
        Assert.Equal(record.CreatedAt + Lease, record.LeaseExpiresAt);
        Assert.Equal(record.CreatedAt + Retention, record.ExpiresAt);
    }

    [Fact]
    public async Task AddRedisStore_Connection_IsUsedAndLeftToItsOwner()
    {
        var connection = await RedisServer.ConnectAsync();
        var provider = new TestBuilder(new ServiceCollection()).AddRedisStore(connection, o => o.KeyPrefix = RedisServer.NewPrefix()).Services.BuildServiceProvider();
        var store = (RedisIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();
        await ClaimAsync(store, NewStoreKey());

        await provider.DisposeAsync();

        Assert.Same(connection, store.Connection);
        Assert.True(connection.IsConnected);
    }

    [Fact]
    public async Task AddRedisStore_ConfigurationString_ClosesTheConnectionItMade()
    {
        var provider = new TestBuilder(new ServiceCollection()).AddRedisStore(RedisServer.Configuration, o => o.KeyPrefix = RedisServer.NewPrefix()).Services.BuildServiceProvider();
        var store = (RedisIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();
        await ClaimAsync(store, NewStoreKey());
        var connection = store.Connection!;
        Assert.True(connection.IsConnected);

        await provider.DisposeAsync();

        Assert.False(connection.IsConnected);
    }

    private static async Task<(RedisIdempotencyStore Store, ConnectionMultiplexer Connection, string Prefix)> CreateSutAsync(Action<RedisStoreOptions>? configure = null)
    {
        var connection = await RedisServer.ConnectAsync();
        var options = new RedisStoreOptions { KeyPrefix = RedisServer.NewPrefix() };
        configure?.Invoke(options);
        return (new RedisIdempotencyStore(connection, options, NullLogger<RedisIdempotencyStore>.Instance), connection, options.KeyPrefix);
    }

    private static string NewStoreKey() => StoreKey.Create("tenant|1", "POST", "/v1/orders/{id}", Guid.NewGuid().ToString("N"));

    private static async Task<IdempotencyLease> ClaimAsync(IIdempotencyStore store, string storeKey)
    {
        var result = await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention));
        Assert.Equal(ClaimOutcome.Claimed, result.Outcome);
        return result.Lease!;
    }

    private static async Task<List<string>> KeysAsync(ConnectionMultiplexer connection, string prefix)
    {
        var keys = new List<string>();
        foreach (var server in connection.GetServers().Where(s => !s.IsReplica))
        {
            await foreach (var key in server.KeysAsync(pattern: prefix + "*"))
            {
                keys.Add(key!);
            }
        }

        return keys;
    }
}
