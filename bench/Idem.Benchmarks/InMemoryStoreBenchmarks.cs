using System.Collections.Concurrent;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Idem.Storage;

namespace Idem.Benchmarks;

/// <summary>
/// <see cref="InMemoryIdempotencyStore"/>: claim and complete <see cref="KeysPerInvoke"/> new keys into a fresh store,
/// and replay a completed key; against a <see cref="ConcurrentDictionary{TKey, TValue}"/> holding the same data with
/// the same two steps (TryAdd, then TryUpdate). Reported per key; each category has its own baseline.
/// </summary>
[MemoryDiagnoser]
[GroupBenchmarksBy(BenchmarkLogicalGroupRule.ByCategory)]
[CategoriesColumn]
public class InMemoryStoreBenchmarks
{
    // A fresh store per invocation keeps every measured claim a first one; its own allocation is spread over this many keys.
    private const int KeysPerInvoke = 1024;

    private static readonly TimeSpan Lease = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Retention = TimeSpan.FromHours(24);

    private readonly string _fingerprint = new('a', 64);
    private readonly IdempotencyResponse _response = new(201, [new("Content-Type", "application/json; charset=utf-8"), new("Location", "/v1/transfers/42")], """{"id":42,"status":"accepted"}"""u8.ToArray());
    private string[] _keys = [];
    private InMemoryIdempotencyStore _completedStore = null!;
    private ConcurrentDictionary<string, PlainRecord> _completedDictionary = null!;

    [GlobalSetup]
    public void Setup()
    {
        _keys = new string[KeysPerInvoke];
        for (var i = 0; i < _keys.Length; i++)
        {
            _keys[i] = StoreKey.Create("anonymous", "POST", "/v1/transfers", "key-" + i.ToString("D8", CultureInfo.InvariantCulture));
        }

        _completedStore = new InMemoryIdempotencyStore(TimeProvider.System);
        _completedDictionary = new ConcurrentDictionary<string, PlainRecord>(StringComparer.Ordinal);
        foreach (var key in _keys)
        {
            var claim = _completedStore.TryClaimAsync(new ClaimRequest(key, _fingerprint, Lease, Retention)).Result;
            _ = _completedStore.CompleteAsync(claim.Lease!, _response).Result;
            _completedDictionary[key] = new PlainRecord(_fingerprint, DateTimeOffset.UtcNow + Retention, _response);
        }
    }

    [BenchmarkCategory("ClaimComplete")]
    [Benchmark(Baseline = true, OperationsPerInvoke = KeysPerInvoke, Description = "ConcurrentDictionary TryAdd+TryUpdate (no Idem)")]
    public int DictionaryClaimComplete()
    {
        var entries = new ConcurrentDictionary<string, PlainRecord>(StringComparer.Ordinal);
        foreach (var key in _keys)
        {
            var now = DateTimeOffset.UtcNow;
            var inProgress = new PlainRecord(_fingerprint, now + Lease, null);
            entries.TryAdd(key, inProgress);
            entries.TryUpdate(key, inProgress with { ExpiresAt = DateTimeOffset.UtcNow + Retention, Response = _response }, inProgress);
        }

        return entries.Count;
    }

    [BenchmarkCategory("ClaimComplete")]
    [Benchmark(OperationsPerInvoke = KeysPerInvoke, Description = "InMemoryIdempotencyStore claim+complete")]
    public async Task<int> StoreClaimComplete()
    {
        var store = new InMemoryIdempotencyStore(TimeProvider.System);
        foreach (var key in _keys)
        {
            var claim = await store.TryClaimAsync(new ClaimRequest(key, _fingerprint, Lease, Retention));
            await store.CompleteAsync(claim.Lease!, _response);
        }

        return store.Count;
    }

    [BenchmarkCategory("Replay")]
    [Benchmark(Baseline = true, OperationsPerInvoke = KeysPerInvoke, Description = "ConcurrentDictionary lookup of a completed key (no Idem)")]
    public int DictionaryReplay()
    {
        var found = 0;
        foreach (var key in _keys)
        {
            if (_completedDictionary.TryGetValue(key, out var record) && record.Response is not null
                && string.Equals(record.Fingerprint, _fingerprint, StringComparison.Ordinal) && record.ExpiresAt > DateTimeOffset.UtcNow)
            {
                found++;
            }
        }

        return found;
    }

    [BenchmarkCategory("Replay")]
    [Benchmark(OperationsPerInvoke = KeysPerInvoke, Description = "InMemoryIdempotencyStore claim of a completed key (replay)")]
    public async Task<int> StoreReplay()
    {
        var found = 0;
        foreach (var key in _keys)
        {
            var claim = await _completedStore.TryClaimAsync(new ClaimRequest(key, _fingerprint, Lease, Retention));
            if (claim.Outcome == ClaimOutcome.Completed)
            {
                found++;
            }
        }

        return found;
    }

    private sealed record PlainRecord(string Fingerprint, DateTimeOffset ExpiresAt, IdempotencyResponse? Response);
}
