using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Idem.Redis;
using Idem.Storage;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Idem.Benchmarks;

/// <summary>
/// The Redis store's claim+complete of a new key and claim of a completed key (a replay), against the same round trips
/// written by hand: <c>SET NX</c> then <c>SET XX</c>, the same through two trivial <c>EVALSHA</c> scripts, and a
/// <c>GET</c>. Needs a Redis: <c>IDEM_TEST_REDIS</c> (default 127.0.0.1:6379). Keys expire within minutes.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class RedisStoreBenchmarks
{
    private const string RawClaim = "return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2])";
    private const string RawComplete = "return redis.call('SET', KEYS[1], ARGV[1], 'XX', 'PX', ARGV[2])";

    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Retention = TimeSpan.FromMinutes(2);

    private readonly string _fingerprint = new('a', 64);
    private readonly IdempotencyResponse _response = new(201, [new("Content-Type", "application/json; charset=utf-8"), new("Location", "/v1/transfers/42")], """{"id":42,"status":"accepted"}"""u8.ToArray());
    private readonly string _prefix = "idem-bench:" + Guid.NewGuid().ToString("N")[..8] + ":";
    private ConnectionMultiplexer _connection = null!;
    private IDatabase _database = null!;
    private RedisIdempotencyStore _store = null!;
    private byte[] _rawClaimHash = [];
    private byte[] _rawCompleteHash = [];
    private byte[] _encoded = [];
    private string _completedKey = "";
    private RedisKey _completedRawKey;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        var configuration = Environment.GetEnvironmentVariable("IDEM_TEST_REDIS") is { Length: > 0 } value ? value : "127.0.0.1:6379";
        _connection = await ConnectionMultiplexer.ConnectAsync(configuration);
        _database = _connection.GetDatabase();
        _store = new RedisIdempotencyStore(_connection, new RedisStoreOptions { KeyPrefix = _prefix }, NullLogger<RedisIdempotencyStore>.Instance);
        var server = _connection.GetServers().First(s => !s.IsReplica);
        _rawClaimHash = await server.ScriptLoadAsync(RawClaim);
        _rawCompleteHash = await server.ScriptLoadAsync(RawComplete);
        _encoded = IdempotencyResponseCodec.Encode(_response);

        _completedKey = NewKey();
        await StoreClaimComplete(_completedKey);
        _completedRawKey = _prefix + "raw:" + Guid.NewGuid().ToString("N");
        await _database.StringSetAsync(_completedRawKey, _encoded, Retention);
    }

    [GlobalCleanup]
    public void Cleanup() => _connection.Dispose();

    [BenchmarkCategory("ClaimComplete")]
    [Benchmark(Baseline = true, Description = "SET NX + SET XX (no Idem)")]
    public async Task<bool> RawSetClaimComplete()
    {
        RedisKey key = _prefix + "raw:" + Guid.NewGuid().ToString("N");
        var claimed = await _database.StringSetAsync(key, _fingerprint, Lease, When.NotExists);
        return claimed && await _database.StringSetAsync(key, _encoded, Retention, When.Exists);
    }

    [BenchmarkCategory("ClaimComplete")]
    [Benchmark(Description = "EVALSHA SET NX + EVALSHA SET XX (no Idem)")]
    public async Task<bool> RawScriptClaimComplete()
    {
        RedisKey[] keys = [_prefix + "raw:" + Guid.NewGuid().ToString("N")];
        var claimed = await _database.ScriptEvaluateAsync(_rawClaimHash, keys, [_fingerprint, (long)Lease.TotalMilliseconds]);
        return !claimed.IsNull && !(await _database.ScriptEvaluateAsync(_rawCompleteHash, keys, [_encoded, (long)Retention.TotalMilliseconds])).IsNull;
    }

    [BenchmarkCategory("ClaimComplete")]
    [Benchmark(Description = "RedisIdempotencyStore claim+complete")]
    public Task<LeaseStatus> StoreClaimComplete() => StoreClaimComplete(NewKey());

    [BenchmarkCategory("Replay")]
    [Benchmark(Baseline = true, Description = "GET of a completed key (no Idem)")]
    public async Task<int> RawGetReplay() => ((byte[])(await _database.StringGetAsync(_completedRawKey))!).Length;

    [BenchmarkCategory("Replay")]
    [Benchmark(Description = "RedisIdempotencyStore claim of a completed key (replay)")]
    public async Task<ClaimOutcome> StoreReplay() => (await _store.TryClaimAsync(new ClaimRequest(_completedKey, _fingerprint, Lease, Retention))).Outcome;

    private async Task<LeaseStatus> StoreClaimComplete(string key)
    {
        var claim = await _store.TryClaimAsync(new ClaimRequest(key, _fingerprint, Lease, Retention));
        return await _store.CompleteAsync(claim.Lease!, _response);
    }

    private static string NewKey() => StoreKey.Create("anonymous", "POST", "/v1/transfers", Guid.NewGuid().ToString());
}
