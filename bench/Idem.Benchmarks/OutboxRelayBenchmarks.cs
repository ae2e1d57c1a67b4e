using System.Globalization;
using BenchmarkDotNet.Attributes;
using Idem.Messaging;
using Idem.Messaging.Outbox;
using Idem.Messaging.RabbitMQ;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using RabbitMQ.Client;

namespace Idem.Benchmarks;

/// <summary>
/// The outbox relay's throughput, per message: <see cref="MessagesPerInvoke"/> committed messages, spread over
/// <see cref="Aggregates"/> aggregates, relayed to the real RabbitMQ (publisher confirms, persistent messages into a
/// durable queue) and marked published. Baseline: the same messages published straight to RabbitMQ through the same
/// transport, one aggregate's messages one after the other as the relay does, with no database. The third row relays to
/// a transport that does nothing: the database side alone. Needs <c>IDEM_TEST_RABBITMQ</c> (and
/// <c>IDEM_TEST_POSTGRES</c> for PostgreSQL).
/// </summary>
[MemoryDiagnoser]
public class OutboxRelayBenchmarks
{
    private const int MessagesPerInvoke = 1000;

    private BenchDatabase _database = null!;
    private ServiceProvider _services = null!;
    private ServiceProvider _nullServices = null!;
    private IOutbox _outbox = null!;
    private OutboxRelay _relay = null!;
    private OutboxRelay _nullRelay = null!;
    private IMessagePublisher _publisher = null!;
    private string _exchange = "";
    private long _sequence;

    [Params(MessagingDatabaseKind.Sqlite, MessagingDatabaseKind.Postgres)]
    public MessagingDatabaseKind Database { get; set; }

    [Params(1, 64)]
    public int Aggregates { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        var uri = new Uri(Environment.GetEnvironmentVariable("IDEM_TEST_RABBITMQ")
            ?? throw new InvalidOperationException("Set IDEM_TEST_RABBITMQ (`. artifacts/test-services.env`) to run the relay benchmarks."));
        _exchange = "idem.bench." + Guid.NewGuid().ToString("N")[..12];
        WithChannel(uri, async channel =>
        {
            await channel.ExchangeDeclareAsync(_exchange, ExchangeType.Topic, durable: true);
            await channel.QueueDeclareAsync(_exchange, durable: true, exclusive: false, autoDelete: false);
            await channel.QueueBindAsync(_exchange, _exchange, "#");
        });

        _database = new BenchDatabase(Database);
        _services = Build(s => s.UseRabbitMq(uri, o => o.Exchange = _exchange));
        _nullServices = Build(s => s.Services.AddSingleton<IMessagePublisher>(new NullPublisher()));
        _outbox = _services.GetRequiredService<IOutbox>();
        _relay = _services.GetRequiredService<OutboxRelay>();
        _nullRelay = _nullServices.GetRequiredService<OutboxRelay>();
        _publisher = _services.GetRequiredService<IMessagePublisher>();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        var uri = new Uri(Environment.GetEnvironmentVariable("IDEM_TEST_RABBITMQ")!);
        _services.Dispose();
        _nullServices.Dispose();
        _database.DisposeAsync().AsTask().GetAwaiter().GetResult();
        WithChannel(uri, async channel =>
        {
            await channel.QueueDeleteAsync(_exchange, ifUnused: false, ifEmpty: false);
            await channel.ExchangeDeleteAsync(_exchange, ifUnused: false);
        });
    }

    /// <summary>Commits the messages the next relay invocation publishes, in one business transaction.</summary>
    [IterationSetup(Targets = [nameof(Relay), nameof(RelayToNullTransport)])]
    public void Enqueue()
    {
        using var connection = _database.DataSource.OpenConnection();
        using var transaction = connection.BeginTransaction();
        foreach (var message in NextMessages())
        {
            _outbox.EnqueueAsync(transaction, message).AsTask().GetAwaiter().GetResult();
        }

        transaction.Commit();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = MessagesPerInvoke, Description = "publish straight to RabbitMQ (no outbox)")]
    public Task PublishDirect()
        => Task.WhenAll(NextMessages().GroupBy(m => m.Aggregate).Select(async chain =>
        {
            foreach (var message in chain)
            {
                await _publisher.PublishAsync(message, default);
            }
        }));

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke, Description = "outbox relay to RabbitMQ (read, publish, mark)")]
    public Task Relay() => DrainAsync(_relay);

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke, Description = "outbox relay to a transport that does nothing")]
    public Task RelayToNullTransport() => DrainAsync(_nullRelay);

    private static async Task DrainAsync(OutboxRelay relay)
    {
        var total = 0;
        RelayPass pass;
        do
        {
            pass = await relay.RunPassAsync(default);
            total += pass.Published;
        }
        while (pass.Read > 0);

        if (total != MessagesPerInvoke)
        {
            throw new InvalidOperationException($"Relayed {total} messages, expected {MessagesPerInvoke}.");
        }
    }

    private List<Message> NextMessages()
    {
        var messages = new List<Message>(MessagesPerInvoke);
        for (var i = 0; i < MessagesPerInvoke; i++)
        {
            var n = ++_sequence;
            messages.Add(new Message("payment.succeeded", "{\"amount\":2500,\"currency\":\"EUR\"}"u8.ToArray())
            {
                Id = "evt_" + n.ToString(CultureInfo.InvariantCulture),
                Aggregate = "acct_" + (n % Aggregates).ToString(CultureInfo.InvariantCulture),
                ContentType = "application/json",
            });
        }

        return messages;
    }

    private ServiceProvider Build(Action<IIdempotentMessagingBuilder> transport)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        transport(_database.Use(services.AddIdempotentMessaging(_database.Configure)));
        return services.BuildServiceProvider();
    }

    private static void WithChannel(Uri uri, Func<IChannel, Task> work)
    {
        Task.Run(async () =>
        {
            await using var connection = await new ConnectionFactory { Uri = uri }.CreateConnectionAsync();
            await using var channel = await connection.CreateChannelAsync();
            await work(channel);
        }).GetAwaiter().GetResult();
    }

    private sealed class NullPublisher : IMessagePublisher
    {
        public ValueTask PublishAsync(Message message, CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
