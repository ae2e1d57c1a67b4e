using Idem.AspNetCore.Tests.Infrastructure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Idem.AspNetCore.Tests;

/// <summary>Options bind from the <c>Idempotency</c> section and are validated when the host starts.</summary>
public sealed class IdempotencyOptionsTests
{
    private readonly CallCounter _calls = new();

    public static TheoryData<string> InvalidOptionNames => ["Retention=0", "LeaseDuration=0", "PurgeBatchSize=0"];

    public static TheoryData<string> InvalidHttpOptionNames => ["MaxKeyLength=0", "HeaderName=bad header", "MaxResponseBodyBytes=-1", "RetryAfter=0"];

    private static void Apply(IdempotencyOptions o, string invalid)
    {
        switch (invalid)
        {
            case "Retention=0": o.Retention = TimeSpan.Zero; break;
            case "LeaseDuration=0": o.LeaseDuration = TimeSpan.Zero; break;
            case "PurgeBatchSize=0": o.PurgeBatchSize = 0; break;
            default: throw new ArgumentOutOfRangeException(nameof(invalid));
        }
    }

    private static void Apply(IdempotencyHttpOptions o, string invalid)
    {
        switch (invalid)
        {
            case "MaxKeyLength=0": o.MaxKeyLength = 0; break;
            case "HeaderName=bad header": o.HeaderName = "bad header"; break;
            case "MaxResponseBodyBytes=-1": o.MaxResponseBodyBytes = -1; break;
            case "RetryAfter=0": o.RetryAfter = TimeSpan.Zero; break;
            default: throw new ArgumentOutOfRangeException(nameof(invalid));
        }
    }

    private void Map(WebApplication app) => app.MapPost("/orders", () => Results.Ok(new { call = _calls.Increment() })).RequireIdempotency();

    private static Action<WebApplicationBuilder> Configuration(Dictionary<string, string?> values) => b => b.Configuration.AddInMemoryCollection(values);

    [Theory]
    [MemberData(nameof(InvalidOptionNames))]
    public async Task Start_InvalidOption_ThrowsOptionsValidationException(string invalid)
    {
        await using var app = TestApp.Build(Map, o => Apply(o, invalid));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Equal(typeof(IdempotencyOptions), error.OptionsType);
        Assert.Contains(invalid.Split('=')[0], error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidHttpOptionNames))]
    public async Task Start_InvalidHttpOption_ThrowsOptionsValidationException(string invalid)
    {
        await using var app = TestApp.Build(Map, http: o => Apply(o, invalid));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Equal(typeof(IdempotencyHttpOptions), error.OptionsType);
        Assert.Contains(invalid.Split('=')[0], error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_InvalidOptionFromConfiguration_ThrowsOptionsValidationException()
    {
        await using var app = TestApp.Build(Map, builder: Configuration(new() { ["Idempotency:MaxKeyLength"] = "0" }));

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => app.StartAsync());

        Assert.Contains("MaxKeyLength", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Post_OptionsFromConfigurationSection_AreApplied()
    {
        await using var sut = await TestApp.StartAsync(Map, builder: Configuration(new()
        {
            ["Idempotency:HeaderName"] = "X-Idem-Key",
            ["Idempotency:MaxKeyLength"] = "8",
            ["Idempotency:Retention"] = "00:30:00",
        }));
        void WithKey(HttpRequestMessage r, string key) => r.Headers.Add("X-Idem-Key", key);

        var options = sut.Services.GetRequiredService<IOptions<IdempotencyOptions>>().Value;
        var defaultHeader = await sut.Client.PostAsync("/orders", "k-1");
        var tooLong = await sut.Client.PostAsync("/orders", key: null, configure: r => WithKey(r, "123456789"));
        var first = await sut.Client.PostAsync("/orders", key: null, configure: r => WithKey(r, "12345678"));
        var replay = await sut.Client.PostAsync("/orders", key: null, configure: r => WithKey(r, "12345678"));

        Assert.Equal(TimeSpan.FromMinutes(30), options.Retention);
        Assert.Equal(IdempotencyProblemTypes.KeyMissing, defaultHeader.Problem().Type);
        Assert.Equal(IdempotencyProblemTypes.KeyInvalid, tooLong.Problem().Type);
        Assert.Equal(200, first.Status);
        Assert.True(replay.IsReplayed);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Start_ConfigureLambda_OverridesConfiguration()
    {
        await using var sut = await TestApp.StartAsync(
            Map,
            http: o => o.MaxKeyLength = 20,
            builder: Configuration(new() { ["Idempotency:MaxKeyLength"] = "8" }));

        var reply = await sut.Client.PostAsync("/orders", new string('k', 20));

        Assert.Equal(200, reply.Status);
    }

    [Fact]
    public async Task UseIdempotency_NoStoreRegistered_Throws()
    {
        var builder = WebApplication.CreateBuilder();
        builder.Services.AddIdempotency();
        await using var app = builder.Build();

        var error = Assert.Throws<InvalidOperationException>(() => app.UseIdempotency());

        Assert.Contains("No idempotency store", error.Message, StringComparison.Ordinal);
    }
}
