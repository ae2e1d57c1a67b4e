using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net;
using Idem.Http.Tests.Infrastructure;

namespace Idem.Http.Tests;

/// <summary>The client's meter and activity source are static, so these tests run alone: nothing else records while they listen.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TelemetryCollection
{
    public const string Name = "Telemetry";
}

[Collection(TelemetryCollection.Name)]
public sealed class TelemetryTests : IDisposable
{
    private readonly ConcurrentDictionary<string, long> _counts = new();
    private readonly ConcurrentQueue<Activity> _activities = new();
    private readonly MeterListener _meters = new();
    private readonly ActivityListener _traces;

    public TelemetryTests()
    {
        _meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == IdemTelemetry.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _meters.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            var name = instrument.Name;
            foreach (var tag in tags)
            {
                name += $"|{tag.Key}={tag.Value}";
            }

            _counts.AddOrUpdate(name, value, (_, total) => total + value);
        });
        _meters.Start();
        _traces = new ActivityListener
        {
            ShouldListenTo = source => source.Name == IdemTelemetry.Name,
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = _activities.Enqueue,
        };
        ActivitySource.AddActivityListener(_traces);
    }

    public void Dispose()
    {
        _meters.Dispose();
        _traces.Dispose();
    }

    private long Count(string name) => _counts.GetValueOrDefault(name);

    [Fact]
    public async Task Send_RetriedThenReplayed_CountsAttemptsRetriesAndTheReplay()
    {
        var inner = ScriptedHandler.Responses(
            () => new HttpResponseMessage(HttpStatusCode.ServiceUnavailable),
            () =>
            {
                var response = new HttpResponseMessage(HttpStatusCode.Created);
                response.Headers.Add("Idempotent-Replayed", "true");
                return response;
            });
        using var sut = Client.Create(inner);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(2, Count("idem.client.attempts"));
        Assert.Equal(1, Count("idem.client.retries|idem.retry.reason=503"));
        Assert.Equal(1, Count("idem.client.replays"));
        var activity = Assert.Single(_activities, a => a.OperationName == "idem.client.request");
        Assert.Equal(2, activity.GetTagItem("idem.client.attempts"));
        Assert.Equal(true, activity.GetTagItem("idem.client.replayed"));
        Assert.Single(activity.Events, e => e.Name == "idem.client.retry");
    }

    [Fact]
    public async Task Send_AttemptsRunOut_CountsTheGiveUp()
    {
        var inner = ScriptedHandler.Statuses(503);
        using var sut = Client.Create(inner, o => o.MaxAttempts = 2);

        using var response = await sut.SendAsync(Client.Post());

        Assert.Equal(2, Count("idem.client.attempts"));
        Assert.Equal(1, Count("idem.client.gave_up|idem.limit=max_attempts"));
    }

    [Fact]
    public async Task Send_Get_RecordsNothing()
    {
        var inner = ScriptedHandler.Statuses(200);
        using var sut = Client.Create(inner);

        using var response = await sut.GetAsync("/payments/1");

        Assert.DoesNotContain(_counts.Keys, k => k.StartsWith("idem.client.", StringComparison.Ordinal));
        Assert.Empty(_activities);
    }
}
