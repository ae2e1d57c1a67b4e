using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Idem.AspNetCore.Tests;

/// <summary>The <c>Idem</c> meter is static, so these tests run alone: nothing else records while they listen.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}

[Collection(TelemetryCollection.Name)]
public sealed class IdempotencyTelemetryTests : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly MeterListener _listener = new();
    private readonly CallCounter _calls = new();
    private readonly Signal _started = new();
    private readonly Signal _release = new();

    public IdempotencyTelemetryTests()
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == IdemTelemetry.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) => _counts.AddOrUpdate(instrument.Name, value, (_, total) => total + value));
        _listener.Start();
    }

    public void Dispose() => _listener.Dispose();

    private long Count(string instrument) => _counts.GetValueOrDefault(instrument);

    private Task<TestApp> CreateSut(Action<IdempotencyOptions>? options = null, Idem.Storage.IIdempotencyStore? store = null)
        => TestApp.StartAsync(
            app =>
            {
                app.MapPost("/orders", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency();
                app.MapPost("/slow", async () =>
                {
                    _started.Set();
                    await _release.WaitAsync();
                    return Results.Ok(new { call = _calls.Increment() });
                }).RequireIdempotency();
                app.MapPost("/failing", () => Results.StatusCode(500)).RequireIdempotency();
            },
            options,
            store: store is null ? null : b => b.UseStore(store));

    [Fact]
    public async Task Post_EachOutcome_IncrementsItsCounter()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders", "k-1", """{"a":1}""");
        Assert.Equal(1, Count("idem.claims"));

        await sut.Client.PostAsync("/orders", "k-1", """{"a":1}""");
        await sut.Client.PostAsync("/orders", "k-1", """{"a":1}""");
        Assert.Equal(2, Count("idem.replays"));

        await sut.Client.PostAsync("/orders", "k-1", """{"a":2}""");
        Assert.Equal(1, Count("idem.mismatches"));

        var slow = sut.Client.PostAsync("/slow", "k-2");
        await _started.WaitAsync();
        var conflict = await sut.Client.PostAsync("/slow", "k-2");
        _release.Set();
        await slow;
        Assert.Equal(409, conflict.Status);
        Assert.Equal(1, Count("idem.conflicts"));

        Assert.Equal(2, Count("idem.claims"));
        Assert.Equal(2, Count("idem.replays"));
        Assert.Equal(1, Count("idem.mismatches"));
    }

    [Fact]
    public async Task Post_RefusedKeys_CountNoClaim()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/orders", key: null);
        await sut.Client.PostAsync("/orders", "a, b");

        Assert.Equal(0, Count("idem.claims"));
        Assert.Equal(0, _calls.Count);
    }

    [Fact]
    public async Task Post_ServerErrorReleased_CountsClaimAndRelease()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/failing", "k-1");

        Assert.Equal(1, Count("idem.claims"));
        Assert.Equal(1, Count("idem.releases"));
    }

    [Fact]
    public async Task Post_StoreUnreachable_CountsStoreFailure()
    {
        await using var sut = await CreateSut(store: new UnreachableStore());

        await sut.Client.PostAsync("/orders", "k-1");

        Assert.Equal(1, Count("idem.store_failures"));
        Assert.Equal(0, Count("idem.claims"));
    }
}
