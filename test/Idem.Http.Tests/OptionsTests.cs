using System.Net;
using Idem.Http.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Idem.Http.Tests;

/// <summary>Defaults, validation, and registration through <c>IHttpClientBuilder.AddIdempotency()</c>.</summary>
public sealed class OptionsTests
{
    [Fact]
    public void Defaults_AreTheDocumentedOnes()
    {
        var options = new IdempotentClientOptions();

        Assert.Equal("Idempotency-Key", options.HeaderName);
        Assert.Equal(new HashSet<HttpMethod> { HttpMethod.Post, HttpMethod.Patch }, options.Methods);
        Assert.Equal(5, options.MaxAttempts);
        Assert.Equal(TimeSpan.FromSeconds(60), options.OverallDeadline);
        Assert.Equal(TimeSpan.FromMilliseconds(200), options.BaseDelay);
        Assert.Equal(TimeSpan.FromSeconds(10), options.MaxDelay);
        Assert.False(options.RetryOn500);
        Assert.Null(options.PerAttemptTimeout);
        Assert.Null(options.KeyGenerator);
        Assert.Equal(ValidateOptionsResult.Success, new IdempotentClientOptionsValidator().Validate(null, options));
        Assert.Equal(ValidateOptionsResult.Success, new IdempotentClientDelaysValidator().Validate(null, options));
    }

    public static TheoryData<string, Action<IdempotentClientOptions>> InvalidOptions => new()
    {
        { "HeaderName", o => o.HeaderName = "" },
        { "HeaderName", o => o.HeaderName = "Idempotency Key" },
        { "Methods", o => o.Methods.Clear() },
        { "MaxAttempts", o => o.MaxAttempts = 0 },
        { "MaxAttempts", o => o.MaxAttempts = 101 },
        { "OverallDeadline", o => o.OverallDeadline = TimeSpan.Zero },
        { "OverallDeadline", o => o.OverallDeadline = TimeSpan.FromDays(2) },
        { "BaseDelay", o => o.BaseDelay = TimeSpan.FromMilliseconds(-1) },
        { "MaxDelay", o => o.MaxDelay = TimeSpan.FromMilliseconds(100) },
        { "MaxDelay", o => o.MaxDelay = TimeSpan.FromHours(2) },
        { "PerAttemptTimeout", o => o.PerAttemptTimeout = TimeSpan.Zero },
    };

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void Constructor_InvalidOptions_ThrowsOptionsValidationExceptionNamingTheOption(string name, Action<IdempotentClientOptions> change)
    {
        var options = new IdempotentClientOptions();
        change(options);

        var error = Assert.Throws<OptionsValidationException>(() => new IdempotentRetryHandler(options));

        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void AddIdempotency_InvalidOptions_FailsAtStartNamingTheOption(string name, Action<IdempotentClientOptions> change)
    {
        var services = new ServiceCollection();
        services.AddHttpClient("processor").AddIdempotency(change);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Equal("processor", error.OptionsName);
        Assert.Contains(name, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Constructor_ZeroBaseDelayAndOneAttempt_AreAccepted()
    {
        using var handler = new IdempotentRetryHandler(new IdempotentClientOptions { BaseDelay = TimeSpan.Zero, MaxAttempts = 1 });
    }

    [Fact]
    public void AddIdempotency_InvalidOptions_FailsStartValidation()
    {
        var services = new ServiceCollection();
        services.AddHttpClient("processor").AddIdempotency(o => o.MaxAttempts = 0);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Contains("MaxAttempts", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AddIdempotency_NamedClients_KeepTheirOwnOptions()
    {
        var processor = ScriptedHandler.Statuses(503);
        var ledger = ScriptedHandler.Statuses(503);
        var services = new ServiceCollection();
        services.AddHttpClient("processor", c => c.BaseAddress = Client.BaseAddress)
            .AddIdempotency(o => { o.MaxAttempts = 2; o.Random = () => 0; })
            .ConfigurePrimaryHttpMessageHandler(() => processor);
        services.AddHttpClient("ledger", c => c.BaseAddress = Client.BaseAddress)
            .AddIdempotency(o => { o.MaxAttempts = 4; o.HeaderName = "X-Key"; o.Random = () => 0; })
            .ConfigurePrimaryHttpMessageHandler(() => ledger);
        using var provider = services.BuildServiceProvider();
        provider.GetRequiredService<IStartupValidator>().Validate();
        var factory = provider.GetRequiredService<IHttpClientFactory>();

        (await factory.CreateClient("processor").SendAsync(Client.Post())).Dispose();
        (await factory.CreateClient("ledger").SendAsync(Client.Post())).Dispose();

        Assert.Equal(2, processor.Count);
        Assert.Equal(4, ledger.Count);
        Assert.True(ledger.Requests[0].Message.Headers.Contains("X-Key"));
    }

    [Fact]
    public async Task AddIdempotency_RegisteredTimeProvider_IsTheHandlersClock()
    {
        var time = new ObservedTimeProvider();
        var inner = ScriptedHandler.Statuses(503, 200);
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddHttpClient("processor", c => c.BaseAddress = Client.BaseAddress)
            .AddIdempotency(o => o.Random = () => 0.5)
            .ConfigurePrimaryHttpMessageHandler(() => inner);
        using var provider = services.BuildServiceProvider();

        var send = provider.GetRequiredService<IHttpClientFactory>().CreateClient("processor").SendAsync(Client.Post());
        Assert.Equal(TimeSpan.FromMilliseconds(100), await time.NextTimerAsync());
        time.Advance(TimeSpan.FromMilliseconds(100));

        using var response = await send.WaitAsync(Signal.Timeout);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
