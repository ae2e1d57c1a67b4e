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

        // version, state, 3 times, fingerprint with its length, an empty owner, no recovery point and no member digest
        // (u16 zeros), then the response exactly as the codec wrote it.
        Assert.Equal(3, RedisRecord.Version);
        Assert.Equal(RedisRecord.Version, value[0]);
        Assert.Equal(1, value[1]);
        Assert.Equal(RedisRecord.HeaderLength + 1 + Fingerprint.Length + 1 + 2 + 2 + encoded.Length, value.Length);
        Assert.Equal(Fingerprint, Encoding.ASCII.GetString(value, RedisRecord.HeaderLength + 1, Fingerprint.Length));
        Assert.Equal([0, 0, 0, 0, 0], value[(RedisRecord.HeaderLength + 1 + Fingerprint.Length)..][..5]);
        Assert.Equal(encoded, value[^encoded.Length..]);
    }

    [Fact]
    public async Task Release_AtRecoveryPoint_ParksTheBytesWithoutOwnerAndKeepsTheExpiry()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var lease = await ClaimAsync(store, storeKey);
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "charge_requested"));
        var database = connection.GetDatabase();
        var pxat = await database.KeyExpireTimeAsync(store.RecordKey(storeKey));

        var server = connection.GetServers().First(s => !s.IsReplica);
        var before = new DateTimeOffset(await server.TimeAsync());
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));

        byte[] value = (await database.StringGetAsync(store.RecordKey(storeKey)))!;
        var ownerAt = RedisRecord.HeaderLength + 1 + Fingerprint.Length;
        var point = "charge_requested"u8.ToArray();
        Assert.Equal(RedisRecord.Version, value[0]);
        Assert.Equal(0, value[1]);
        Assert.Equal(0, value[ownerAt]);
        Assert.Equal([(byte)point.Length, 0], value[(ownerAt + 1)..(ownerAt + 3)]);
        Assert.Equal(point, value[(ownerAt + 3)..^2]);
        Assert.Equal([0, 0], value[^2..]);
        Assert.Equal(pxat, await database.KeyExpireTimeAsync(store.RecordKey(storeKey)));
        var leaseEnds = DateTimeOffset.FromUnixTimeMilliseconds(BitConverter.ToInt64(value, 10));
        Assert.InRange(leaseEnds, before.AddMilliseconds(-1), before.AddSeconds(5));
    }

    [Fact]
    public async Task PreviousFormat_InProgress_ReadsWithoutPointAndItsOwnerCarriesOnInTheNewFormat()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var now = await ServerNowAsync(connection);
        var database = connection.GetDatabase();
        await database.StringSetAsync(store.RecordKey(storeKey), FormatOne(0, now, now + Ms(Lease), now + Ms(Retention), "owner-from-v1", []), Retention);

        var record = await store.GetAsync(storeKey);
        var duplicate = await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention));
        var lease = new IdempotencyLease(storeKey, "owner-from-v1", Retention, Lease);
        var recorded = await store.SetRecoveryPointAsync(lease, "payment_created");

        Assert.NotNull(record);
        Assert.Equal((IdempotencyRecordState.InProgress, Fingerprint, null), (record.State, record.Fingerprint, record.RecoveryPoint));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(now), record.CreatedAt);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(now) + Lease, record.LeaseExpiresAt);
        Assert.Equal(ClaimOutcome.InProgress, duplicate.Outcome);
        Assert.Equal(LeaseStatus.Ok, recorded);
        Assert.Equal(RedisRecord.Version, ((byte[])(await database.StringGetAsync(store.RecordKey(storeKey)))!)[0]);
        var upgraded = await store.GetAsync(storeKey);
        Assert.Equal(("payment_created", DateTimeOffset.FromUnixTimeMilliseconds(now)), (upgraded!.RecoveryPoint, upgraded.CreatedAt));
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, new IdempotencyResponse(201, [], "{}"u8.ToArray())));
    }

    [Fact]
    public async Task PreviousFormat_Completed_ReplaysAndReads()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var now = await ServerNowAsync(connection);
        var response = new IdempotencyResponse(201, [new("Location", "/v1/orders/7")], "{\"id\":7}"u8.ToArray());
        await connection.GetDatabase().StringSetAsync(
            store.RecordKey(storeKey), FormatOne(1, now, 0, now + Ms(Retention), "", IdempotencyResponseCodec.Encode(response)), Retention);

        var replay = await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention));
        var record = await store.GetAsync(storeKey);

        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        Assert.Equal((201, "{\"id\":7}"), (replay.Response!.StatusCode, Encoding.UTF8.GetString(replay.Response.Body.Span)));
        Assert.Equal("/v1/orders/7", Assert.Single(replay.Response.Headers).Value);
        Assert.NotNull(record);
        Assert.Equal((IdempotencyRecordState.Completed, null, 201), (record.State, record.RecoveryPoint, record.Response!.StatusCode));
    }

    [Fact]
    public async Task PreviousFormat_LeaseExpired_TakeoverHasNoPoint()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var now = await ServerNowAsync(connection);
        await connection.GetDatabase().StringSetAsync(
            store.RecordKey(storeKey), FormatOne(0, now - 5_000, now - 1_000, now + Ms(Retention), "crashed", []), Retention);

        var takeover = await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention));

        Assert.Equal(ClaimOutcome.Claimed, takeover.Outcome);
        Assert.Null(takeover.Lease!.RecoveryPoint);
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(now - 5_000), (await store.GetAsync(storeKey))!.CreatedAt);
        Assert.Equal(LeaseStatus.LeaseLost, await store.RenewAsync(new IdempotencyLease(storeKey, "crashed", Retention, Lease)));
    }

    [Fact]
    public async Task Claim_MemberDigest_SitsAfterTheRecoveryPointAndSurvivesEveryRewrite()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        byte[] digest = [1, 6, 0, .. "amount"u8, 1, 2, 3, 4, 5, 6, 7, 8];
        var lease = (await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention) { MemberDigest = digest })).Lease!;
        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, "p1"));
        Assert.Equal(LeaseStatus.Ok, await store.RenewAsync(lease));
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));
        var takeover = (await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention) { MemberDigest = digest })).Lease!;
        var response = new IdempotencyResponse(201, [], "{}"u8.ToArray());
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(takeover, response));

        byte[] value = (await connection.GetDatabase().StringGetAsync(store.RecordKey(storeKey)))!;
        var pointAt = RedisRecord.HeaderLength + 1 + Fingerprint.Length + 1;
        Assert.Equal([2, 0, (byte)'p', (byte)'1', (byte)digest.Length, 0], value[pointAt..(pointAt + 6)]);
        Assert.Equal(digest, value[(pointAt + 6)..(pointAt + 6 + digest.Length)]);
        Assert.Equal(IdempotencyResponseCodec.Encode(response), value[(pointAt + 6 + digest.Length)..]);
        var mismatch = await store.TryClaimAsync(new ClaimRequest(storeKey, new string('e', 64), Lease, Retention));
        Assert.Equal(digest, mismatch.MemberDigest.ToArray());
    }

    [Fact]
    public async Task Claim_MemberDigest_LongestIsKeptAndLongerIsRefused()
    {
        var (store, _, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var longest = Enumerable.Range(0, RedisRecord.MaxMemberDigestBytes).Select(i => (byte)i).ToArray();

        await Assert.ThrowsAsync<ArgumentException>(async () => await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention) { MemberDigest = new byte[longest.Length + 1] }));
        await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention) { MemberDigest = longest });

        Assert.Equal(longest, (await store.GetAsync(storeKey))!.MemberDigest.ToArray());
    }

    [Fact]
    public async Task PreviousFormatTwo_Completed_ReplaysAndMismatchesWithoutADigest()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var now = await ServerNowAsync(connection);
        var response = new IdempotencyResponse(201, [new("Location", "/v1/orders/7")], "{\"id\":7}"u8.ToArray());
        await connection.GetDatabase().StringSetAsync(
            store.RecordKey(storeKey), FormatTwo(1, now, 0, now + Ms(Retention), "", "phase_1", IdempotencyResponseCodec.Encode(response)), Retention);

        var replay = await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention));
        var mismatch = await store.TryClaimAsync(new ClaimRequest(storeKey, new string('e', 64), Lease, Retention) { MemberDigest = new byte[] { 1 } });
        var record = await store.GetAsync(storeKey);

        Assert.Equal(ClaimOutcome.Completed, replay.Outcome);
        Assert.Equal((201, "{\"id\":7}"), (replay.Response!.StatusCode, Encoding.UTF8.GetString(replay.Response.Body.Span)));
        Assert.Equal(ClaimOutcome.Mismatch, mismatch.Outcome);
        Assert.True(mismatch.MemberDigest.IsEmpty);
        Assert.NotNull(record);
        Assert.Equal(("phase_1", 201, 0), (record.RecoveryPoint, record.Response!.StatusCode, record.MemberDigest.Length));
    }

    [Fact]
    public async Task PreviousFormatTwo_InProgress_IsRewrittenInFormatThreeWithoutADigest()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var now = await ServerNowAsync(connection);
        var database = connection.GetDatabase();
        await database.StringSetAsync(store.RecordKey(storeKey), FormatTwo(0, now, now + Ms(Lease), now + Ms(Retention), "owner-from-v2", "phase_1", []), Retention);
        var lease = new IdempotencyLease(storeKey, "owner-from-v2", Retention, Lease);

        Assert.Equal(LeaseStatus.Ok, await store.RenewAsync(lease));

        byte[] value = (await database.StringGetAsync(store.RecordKey(storeKey)))!;
        Assert.Equal(RedisRecord.Version, value[0]);
        Assert.Equal([0, 0], value[^2..]);
        var record = await store.GetAsync(storeKey);
        Assert.Equal(("phase_1", 0, DateTimeOffset.FromUnixTimeMilliseconds(now)), (record!.RecoveryPoint, record.MemberDigest.Length, record.CreatedAt));
        Assert.Equal(LeaseStatus.Ok, await store.CompleteAsync(lease, new IdempotencyResponse(200, [], "{}"u8.ToArray())));
        Assert.Equal(ClaimOutcome.Completed, (await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention))).Outcome);
    }

    [Fact]
    public async Task SetRecoveryPoint_Longest_RoundTripsAndLongerIsRefused()
    {
        var (store, _, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var lease = await ClaimAsync(store, storeKey);
        var longest = new string('p', RedisRecord.MaxRecoveryPointBytes);

        Assert.Equal(LeaseStatus.Ok, await store.SetRecoveryPointAsync(lease, longest));
        await Assert.ThrowsAsync<ArgumentException>(async () => await store.SetRecoveryPointAsync(lease, longest + "p"));

        Assert.Equal(longest, (await store.GetAsync(storeKey))!.RecoveryPoint);
        Assert.Equal(LeaseStatus.Ok, await store.ReleaseAsync(lease));
        Assert.Equal(longest, (await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention))).Lease!.RecoveryPoint);
    }

    [Fact]
    public async Task Claim_RecordOfUnknownVersion_FailsAndLeavesItAlone()
    {
        var (store, connection, _) = await CreateSutAsync();
        var storeKey = NewStoreKey();
        var future = new byte[64];
        future[0] = 4;
        await connection.GetDatabase().StringSetAsync(store.RecordKey(storeKey), future, TimeSpan.FromMinutes(1));

        var error = await Assert.ThrowsAsync<RedisServerException>(async () => await store.TryClaimAsync(new ClaimRequest(storeKey, Fingerprint, Lease, Retention)));

        Assert.Contains("unknown record format 4", error.Message, StringComparison.Ordinal);
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

    private static async Task<long> ServerNowAsync(ConnectionMultiplexer connection)
        => new DateTimeOffset(await connection.GetServers().First(s => !s.IsReplica).TimeAsync()).ToUnixTimeMilliseconds();

    private static long Ms(TimeSpan duration) => (long)duration.TotalMilliseconds;

    // A record as format 1 (before recovery points) wrote it: no recovery point between the owner and the response.
    private static byte[] FormatOne(byte state, long created, long leaseExpires, long expires, string owner, byte[] response)
    {
        var bytes = new List<byte> { 1, state };
        bytes.AddRange(BitConverter.GetBytes(created));
        bytes.AddRange(BitConverter.GetBytes(leaseExpires));
        bytes.AddRange(BitConverter.GetBytes(expires));
        bytes.Add((byte)Fingerprint.Length);
        bytes.AddRange(Encoding.ASCII.GetBytes(Fingerprint));
        bytes.Add((byte)owner.Length);
        bytes.AddRange(Encoding.ASCII.GetBytes(owner));
        bytes.AddRange(response);
        return [.. bytes];
    }

    // A record as format 2 (before member digests) wrote it: no member digest between the recovery point and the response.
    private static byte[] FormatTwo(byte state, long created, long leaseExpires, long expires, string owner, string point, byte[] response)
    {
        var bytes = new List<byte> { 2, state };
        bytes.AddRange(BitConverter.GetBytes(created));
        bytes.AddRange(BitConverter.GetBytes(leaseExpires));
        bytes.AddRange(BitConverter.GetBytes(expires));
        bytes.Add((byte)Fingerprint.Length);
        bytes.AddRange(Encoding.ASCII.GetBytes(Fingerprint));
        bytes.Add((byte)owner.Length);
        bytes.AddRange(Encoding.ASCII.GetBytes(owner));
        bytes.AddRange(BitConverter.GetBytes((ushort)point.Length));
        bytes.AddRange(Encoding.ASCII.GetBytes(point));
        bytes.AddRange(response);
        return [.. bytes];
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
