using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.RabbitMQ.Tests;

/// <summary>Option validation at host start: no broker needed (the host fails before anything connects).</summary>
public sealed class RabbitMqOptionsTests
{
    private static readonly Uri Unreachable = new("amqp://guest:guest@127.0.0.1:1/");

    [Fact]
    public async Task StartAsync_PrefetchCountOutOfRange_FailsNamingTheOption()
        => await AssertHostFailsToStartAsync(o => o.PrefetchCount = 0, nameof(RabbitMqOptions.PrefetchCount));

    [Fact]
    public async Task StartAsync_EmptyExchange_FailsNamingTheOption()
        => await AssertHostFailsToStartAsync(o => o.Exchange = "", nameof(RabbitMqOptions.Exchange));

    [Fact]
    public async Task StartAsync_ReconnectDelayTooShort_FailsNamingTheOption()
        => await AssertHostFailsToStartAsync(o => o.ReconnectDelay = TimeSpan.FromMilliseconds(1), nameof(RabbitMqOptions.ReconnectDelay));

    [Fact]
    public void Defaults_PassValidation()
    {
        var options = new RabbitMqOptions { Uri = Unreachable };

        Assert.Equal(ValidateOptionsResult.Success, new RabbitMqOptionsValidator().Validate(null, options));
    }

    private static async Task AssertHostFailsToStartAsync(Action<RabbitMqOptions> configure, string option)
    {
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings());
        // Nothing is opened: the host fails before its services start.
        using var dataSource = SqliteFactory.Instance.CreateDataSource("Data Source=:memory:");
        builder.Services.AddIdempotentMessaging().UseSqlite(dataSource).UseRabbitMq(Unreachable, configure);
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync());

        Assert.Equal(typeof(RabbitMqOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }
}
