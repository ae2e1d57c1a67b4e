using System.Diagnostics.Metrics;
using Idem.Messaging.Tests.Infrastructure;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.Tests;

/// <summary>Registration, validation and telemetry: what a user gets wrong fails at registration or at start, with a message that says what.</summary>
public sealed class RegistrationTests(SqliteTestDatabase database) : IClassFixture<SqliteTestDatabase>
{
    [Fact]
    public void AddConsumer_SameNameTwice_Throws()
    {
        var builder = new ServiceCollection().AddIdempotentMessaging().AddConsumer("statements", (_, _) => ValueTask.CompletedTask);

        var error = Assert.Throws<InvalidOperationException>(() => builder.AddConsumer("statements", (_, _) => ValueTask.CompletedTask));

        Assert.Contains("'statements' is already registered", error.Message);
    }

    [Theory]
    [InlineData("has space")]
    [InlineData("")]
    [InlineData("-leading-dash")]
    public void AddConsumer_InvalidName_FailsAtStartNamingTheOption(string name)
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging().AddConsumer(name, (_, _) => ValueTask.CompletedTask);

        var error = AssertFailsAtStart<ConsumerOptions>(services, nameof(ConsumerOptions.Name));

        Assert.Equal(name, error.OptionsName);
    }

    [Fact]
    public void AddConsumer_ZeroMaxAttempts_FailsAtStartNamingTheOption()
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging().AddConsumer("c", (_, _) => ValueTask.CompletedTask, o => o.MaxAttempts = 0);

        var error = AssertFailsAtStart<ConsumerOptions>(services, nameof(ConsumerOptions.MaxAttempts));

        Assert.Equal("c", error.OptionsName);
    }

    [Fact]
    public void AddConsumer_InvalidOptions_DispatcherResolutionThrowsOptionsValidationException()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIdempotentMessaging().UseSqlite(database.DataSource).AddConsumer("c", (_, _) => ValueTask.CompletedTask, o => o.Concurrency = 0);
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IMessageDispatcher>());

        Assert.Contains(nameof(ConsumerOptions.Concurrency), error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("drop table;")]
    [InlineData("1starts_with_digit")]
    public void AddIdempotentMessaging_InvalidTablePrefix_FailsAtStartNamingTheOption(string prefix)
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging(o => o.TablePrefix = prefix);

        AssertFailsAtStart<MessagingOptions>(services, nameof(MessagingOptions.TablePrefix));
    }

    [Fact]
    public void AddIdempotentMessaging_RelayBatchSizeOutOfRange_FailsAtStartNamingTheOption()
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging(o => o.RelayBatchSize = 0);

        AssertFailsAtStart<MessagingOptions>(services, nameof(MessagingOptions.RelayBatchSize));
    }

    [Fact]
    public void AddIdempotentMessaging_MaxRetryDelayBelowRetryDelay_FailsAtStartNamingBoth()
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging(o =>
        {
            o.RelayRetryDelay = TimeSpan.FromSeconds(5);
            o.RelayMaxRetryDelay = TimeSpan.FromSeconds(1);
        });

        var error = AssertFailsAtStart<MessagingOptions>(services, nameof(MessagingOptions.RelayMaxRetryDelay));

        Assert.Contains(nameof(MessagingOptions.RelayRetryDelay), error.Message, StringComparison.Ordinal);
    }

    private static OptionsValidationException AssertFailsAtStart<TOptions>(IServiceCollection services, string option)
    {
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Equal(typeof(TOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
        return error;
    }

    [Fact]
    public void AddConsumer_NoMessageTypes_SubscribesToEverything()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIdempotentMessaging().UseSqlite(database.DataSource).AddConsumer("c", (_, _) => ValueTask.CompletedTask);
        using var provider = services.BuildServiceProvider();

        var consumer = Assert.Single(provider.GetRequiredService<IMessageDispatcher>().Consumers);

        Assert.Equal(["#"], consumer.MessageTypes);
    }

    [Fact]
    public void Resolve_NoDatabaseChosen_ThrowsSayingWhatToCall()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddIdempotentMessaging();
        using var provider = services.BuildServiceProvider();

        var error = Assert.Throws<InvalidOperationException>(() => provider.GetRequiredService<IOutbox>());

        Assert.Contains("UseSqlite", error.Message);
    }

    [Fact]
    public void Message_IdTooLongOrBlank_Throws()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new Message("t", default) { Id = new string('x', 201) });
        Assert.Throws<ArgumentException>(() => new Message("t", default) { Id = " " });
        Assert.Throws<ArgumentException>(() => new Message(" ", default));
    }

    [Fact]
    public async Task Dispatch_HandledAndDuplicate_CountedOnTheIdemMeterWithTheConsumer()
    {
        var consumer = "metered_" + Guid.NewGuid().ToString("N")[..8];
        var counts = new Dictionary<string, long>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == IdemTelemetry.Name && instrument.Name.StartsWith("idem.inbox.", StringComparison.Ordinal))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "idem.consumer" && (string?)tag.Value == consumer)
                {
                    lock (counts)
                    {
                        counts[instrument.Name] = counts.GetValueOrDefault(instrument.Name) + value;
                    }
                }
            }
        });
        listener.Start();
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(consumer, (_, _) => ValueTask.CompletedTask));
        var message = Harness.NewMessage();

        await harness.Dispatcher.DispatchAsync(consumer, message, default);
        await harness.Dispatcher.DispatchAsync(consumer, message, default);

        Assert.Equal(1, counts["idem.inbox.handled"]);
        Assert.Equal(1, counts["idem.inbox.duplicates"]);
    }
}
