using System.Diagnostics.Metrics;
using Idem.Payments.Console;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Idem.Payments.ConsoleTests;

/// <summary>The per-tenant, per-minute counts behind the overview's chart, on a fake clock.</summary>
public sealed class TenantOutcomesTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 5, 10, 0, 30, TimeSpan.Zero));

    [Fact]
    public async Task LastHour_MeasurementsInATenantsFlow_CountPerMinuteForThatTenantOnly()
    {
        using var outcomes = CreateSut();
        using var meter = _services.GetRequiredService<IMeterFactory>().Create(IdemTelemetry.Name);
        var claims = meter.CreateCounter<long>("idem.claims");
        var conflicts = meter.CreateCounter<long>("idem.conflicts");

        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_a");
            claims.Add(1);
            conflicts.Add(1);
        });
        _time.Advance(TimeSpan.FromMinutes(1));
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_a");
            claims.Add(2);
        });
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_b");
            claims.Add(5);
        });
        claims.Add(7); // no tenant in this flow: not counted for anyone

        var hour = outcomes.LastHour("ten_a");
        Assert.Equal(TenantOutcomes.Minutes, hour.Length);
        Assert.Equal(new DateTimeOffset(2026, 12, 5, 10, 1, 0, TimeSpan.Zero), hour[^1].Start);
        Assert.Equal(2, hour[^1][Outcome.Executed]);
        Assert.Equal(1, hour[^2][Outcome.Executed]);
        Assert.Equal(1, hour[^2][Outcome.InProgress]);
        Assert.Equal(3, hour.Sum(m => m[Outcome.Executed]));
        Assert.Equal(5, outcomes.LastHour("ten_b").Sum(m => m[Outcome.Executed]));
        Assert.Equal(0, outcomes.LastHour("ten_c").Sum(m => m.Counts.Sum()));
    }

    [Fact]
    public async Task LastHour_AfterAnHour_ForgetsOldMinutesEvenWhenTheirSlotIsReused()
    {
        using var outcomes = CreateSut();
        using var meter = _services.GetRequiredService<IMeterFactory>().Create(IdemTelemetry.Name);
        var replays = meter.CreateCounter<long>("idem.replays");
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_a");
            replays.Add(4);
        });

        _time.Advance(TimeSpan.FromMinutes(TenantOutcomes.Minutes));
        Assert.Equal(0, outcomes.LastHour("ten_a").Sum(m => m[Outcome.Replayed]));

        // The same ring slot, an hour later: it starts again from zero.
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_a");
            replays.Add(1);
        });
        Assert.Equal(1, outcomes.LastHour("ten_a").Sum(m => m[Outcome.Replayed]));
    }

    [Fact]
    public async Task Record_TenantIdleForAnHour_IsForgotten()
    {
        using var outcomes = CreateSut();
        using var meter = _services.GetRequiredService<IMeterFactory>().Create(IdemTelemetry.Name);
        var claims = meter.CreateCounter<long>("idem.claims");
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_idle");
            claims.Add(1);
        });
        Assert.Equal(1, outcomes.TenantCount);

        _time.Advance(TimeSpan.FromMinutes(TenantOutcomes.Minutes));
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_busy");
            claims.Add(1);
        });

        Assert.Equal(1, outcomes.TenantCount);
        Assert.Equal(1, outcomes.LastHour("ten_busy").Sum(m => m[Outcome.Executed]));
    }

    [Fact]
    public async Task LastHour_MeterOfAnotherFactory_IsNotCounted()
    {
        using var outcomes = CreateSut();
        using var otherServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
        using var otherMeter = otherServices.GetRequiredService<IMeterFactory>().Create(IdemTelemetry.Name);
        using var unscoped = new Meter(IdemTelemetry.Name);
        await Task.Run(() =>
        {
            TenantOutcomes.EnterTenant("ten_a");
            otherMeter.CreateCounter<long>("idem.claims").Add(1);
            unscoped.CreateCounter<long>("idem.claims").Add(1);
        });

        Assert.Equal(0, outcomes.LastHour("ten_a").Sum(m => m.Counts.Sum()));
    }

    public void Dispose() => _services.Dispose();

    private TenantOutcomes CreateSut() => new(_services.GetRequiredService<IMeterFactory>(), _time);
}
