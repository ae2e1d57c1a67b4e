using RabbitMQ.Client;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>
/// An exchange and a queue prefix of one test's own on the real broker (GUID-suffixed, so tests and repeated runs never
/// see each other's messages), deleted with every queue made under the prefix at the end.
/// </summary>
internal sealed class TestBroker : IAsyncDisposable
{
    private readonly List<string> _queues = [];

    public TestBroker()
    {
        var suffix = Guid.NewGuid().ToString("N")[..12];
        Exchange = $"idem.test.{suffix}";
        QueuePrefix = $"idem.test.{suffix}.";
    }

    public string Exchange { get; }

    public string QueuePrefix { get; }

    public void Configure(RabbitMqOptions options)
    {
        options.Exchange = Exchange;
        options.QueuePrefix = QueuePrefix;
        options.ReconnectDelay = TimeSpan.FromMilliseconds(500);
        options.PublishTimeout = TimeSpan.FromSeconds(10);
    }

    public string Queue(string consumer) => QueuePrefix + consumer;

    public string DeadLetterQueue(string consumer) => QueuePrefix + consumer + ".dead-letter";

    /// <summary>Declares a consumer's queue, bindings and dead-letter queue as the transport does, so nothing published before the consumer starts is dropped.</summary>
    public async Task DeclareConsumerAsync(string consumer, params string[] types)
    {
        var options = new RabbitMqOptions();
        Configure(options);
        var consumerOptions = new ConsumerOptions { Name = consumer };
        foreach (var type in types.DefaultIfEmpty("#"))
        {
            consumerOptions.MessageTypes.Add(type);
        }

        await using var connection = await RabbitMqServer.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        await RabbitMqTopology.DeclareConsumerAsync(channel, options, consumerOptions, default);
        _queues.Add(Queue(consumer));
        _queues.Add(DeadLetterQueue(consumer));
    }

    /// <summary>Messages ready in a queue (not counting deliveries a consumer holds unacknowledged).</summary>
    public async Task<uint> ReadyAsync(string queue)
    {
        await using var connection = await RabbitMqServer.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return (await channel.QueueDeclarePassiveAsync(queue)).MessageCount;
    }

    /// <summary>Takes one message from a queue (acknowledged), or null.</summary>
    public async Task<BasicGetResult?> GetAsync(string queue)
    {
        await using var connection = await RabbitMqServer.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        return await channel.BasicGetAsync(queue, autoAck: true);
    }

    public async ValueTask DisposeAsync()
    {
        await using var connection = await RabbitMqServer.ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        foreach (var queue in _queues)
        {
            await channel.QueueDeleteAsync(queue, ifUnused: false, ifEmpty: false);
        }

        await channel.ExchangeDeleteAsync(Exchange, ifUnused: false);
    }
}
