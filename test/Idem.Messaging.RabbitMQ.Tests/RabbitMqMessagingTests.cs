using System.Text;
using Idem.Messaging.RabbitMQ.Tests.Infrastructure;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Idem.Messaging.RabbitMQ.Tests;

/// <summary>
/// Outbox, inbox and the RabbitMQ transport against the real broker: duplicates are handled once, a consumer killed between
/// its commit and its acknowledgement skips the redelivery, a broker restart loses no event, and a poison message ends in
/// the dead-letter queue with its reason.
/// </summary>
[Trait("Category", RabbitMqServer.Category)]
public sealed class RabbitMqMessagingTests
{
    private const string Consumer = "ledger";
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Publish_SameMessageThreeTimes_HandledOnceAndEveryCopyAcknowledged()
    {
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await database.ExecuteAsync("CREATE TABLE effects (message_id TEXT NOT NULL)");
        await broker.DeclareConsumerAsync(Consumer);
        var observer = new Observer();
        var calls = 0;
        var message = new Message("payment.succeeded", """{"amount":2500}"""u8.ToArray()) { Id = "pay_" + Guid.NewGuid().ToString("N"), ContentType = "application/json" };

        using (var host = await ConsumerHost.StartAsync(database, broker, observer, m => m.AddConsumer(Consumer, async (context, cancellationToken) =>
        {
            Interlocked.Increment(ref calls);
            await InsertEffectAsync(context, cancellationToken);
        })))
        {
            var publisher = host.Services.GetRequiredService<IMessagePublisher>();
            for (var i = 0; i < 3; i++)
            {
                await publisher.PublishAsync(message, default);
            }

            await observer.WhenAsync(o => o.CommittedIds.Count + o.SkippedIds.Count == 3, Wait);
            await host.StopAsync();
        }

        Assert.Equal(1, calls);
        Assert.Equal([message.Id], observer.CommittedIds);
        Assert.Equal([message.Id, message.Id], observer.SkippedIds);
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM effects WHERE message_id = '{message.Id}'"));

        // Every copy was acknowledged: nothing came back to the queue when the consumer's channel closed.
        Assert.Equal(0u, await broker.ReadyAsync(broker.Queue(Consumer)));
    }

    [Fact]
    public async Task Consume_ProcessKilledAfterCommitBeforeAck_RedeliveryIsSkippedAndEffectHappenedOnce()
    {
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await broker.DeclareConsumerAsync(Consumer);
        var message = new Message("payment.succeeded", "{}"u8.ToArray()) { Id = "pay_" + Guid.NewGuid().ToString("N") };
        await PublishAsync(broker, message);

        await using (var blocked = await TestConsumerProcess.StartConsumerAsync(database.Path, broker, blockAfterCommit: true))
        {
            await blocked.WaitForLineAsync(l => l == $"COMMITTED {message.Id}");

            // Committed and not acknowledged: the broker still counts the delivery as in flight.
            await blocked.KillAsync();
        }

        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM effects WHERE message_id = '{message.Id}'"));

        await using (var second = await TestConsumerProcess.StartConsumerAsync(database.Path, broker, blockAfterCommit: false))
        {
            await second.WaitForLineAsync(l => l == $"SKIPPED {message.Id}");
            await second.StopAsync();
        }

        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM effects WHERE message_id = '{message.Id}'"));
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM idem_inbox WHERE consumer = '{Consumer}' AND message_id = '{message.Id}' AND state = 1"));
        Assert.Equal(0u, await broker.ReadyAsync(broker.Queue(Consumer)));
    }

    [Fact]
    public async Task Stop_WhileADeliveryIsBetweenCommitAndAck_WaitsAndAcknowledgesIt()
    {
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await database.ExecuteAsync("CREATE TABLE effects (message_id TEXT NOT NULL)");
        await broker.DeclareConsumerAsync(Consumer);
        var observer = new StallingObserver();
        var message = new Message("payment.succeeded", "{}"u8.ToArray()) { Id = "pay_" + Guid.NewGuid().ToString("N") };

        using (var host = await ConsumerHost.StartAsync(database, broker, observer, m => m.AddConsumer(Consumer, InsertEffectAsync)))
        {
            observer.Stopping = host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping;
            await host.Services.GetRequiredService<IMessagePublisher>().PublishAsync(message, default);
            await observer.Reached.Task.WaitAsync(Wait);

            // The handler committed and the delivery is not acknowledged yet; the host stops meanwhile. The stop must
            // wait for the acknowledgement rather than close the channel under it (which gives the delivery back).
            await host.StopAsync();
        }

        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM effects WHERE message_id = '{message.Id}'"));
        Assert.Equal(0u, await broker.ReadyAsync(broker.Queue(Consumer)));
    }

    [Fact]
    public async Task Run_BrokerRestartedMidway_EveryCommittedChangeProducesItsEventHandledExactlyOnceInOrder()
    {
        const int Changes = 90;
        const int Accounts = 3;
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await database.ExecuteAsync("CREATE TABLE business (n INTEGER NOT NULL PRIMARY KEY, account TEXT NOT NULL); CREATE TABLE effects (seq INTEGER PRIMARY KEY, message_id TEXT NOT NULL, account TEXT NOT NULL, n INTEGER NOT NULL)");
        await broker.DeclareConsumerAsync(Consumer, "payment.*");
        var observer = new Observer();

        using (var host = await ConsumerHost.StartAsync(database, broker, observer, m => m.AddConsumer(Consumer, InsertEffectAsync, o => o.MessageTypes.Add("payment.*"))))
        {
            var outbox = host.Services.GetRequiredService<IOutbox>();
            var next = 0;
            async Task CommitChangesAsync(int count)
            {
                for (var end = next + count; next < end; next++)
                {
                    await using var connection = await database.DataSource.OpenConnectionAsync();
                    await using var transaction = await connection.BeginTransactionAsync();
                    var account = $"acct_{next % Accounts}";
                    await using (var command = connection.CreateCommand())
                    {
                        command.Transaction = transaction;
                        command.CommandText = $"INSERT INTO business (n, account) VALUES ({next}, '{account}')";
                        await command.ExecuteNonQueryAsync();
                    }

                    await outbox.EnqueueAsync(transaction, new Message("payment.succeeded", Encoding.UTF8.GetBytes(next.ToString(System.Globalization.CultureInfo.InvariantCulture))) { Id = $"evt_{next}", Aggregate = account });
                    await transaction.CommitAsync();
                }
            }

            await CommitChangesAsync(Changes / 3);
            await observer.WhenAsync(o => o.CommittedIds.Count >= 5, Wait);

            // The broker goes away with events in flight; business changes keep committing while it is down.
            await RabbitMqServer.RestartAsync(() => CommitChangesAsync(Changes / 3));
            await CommitChangesAsync(Changes - next);

            await observer.WhenAsync(o => o.CommittedIds.Distinct().Count() == Changes, Wait);
            await host.StopAsync();
        }

        // Every committed change has its event, handled exactly once.
        Assert.Equal(Changes, observer.CommittedIds.Count);
        Assert.Equal(Changes, await database.CountAsync("SELECT count(*) FROM effects"));
        Assert.Equal(Changes, await database.CountAsync("SELECT count(DISTINCT message_id) FROM effects"));
        Assert.Equal(0, await database.CountAsync("SELECT count(*) FROM business b WHERE NOT EXISTS (SELECT 1 FROM effects e WHERE e.message_id = 'evt_' || b.n)"));
        Assert.Equal(0, await database.CountAsync("SELECT count(*) FROM idem_outbox WHERE published_at IS NULL"));

        // The run did go through the failure: publishes were refused while the broker was down, and retried.
        Assert.True(await database.CountAsync("SELECT count(*) FROM idem_outbox WHERE attempts > 0") > 0, "No publish failed: the broker restart did not happen during the run.");

        // Each account's events were handled in the order its changes committed.
        for (var account = 0; account < Accounts; account++)
        {
            var handled = (await database.StringsAsync($"SELECT CAST(n AS TEXT) FROM effects WHERE account = 'acct_{account}' ORDER BY seq")).Select(int.Parse).ToList();
            Assert.Equal(handled.Order(), handled);
        }
    }

    [Fact]
    public async Task Consume_PoisonMessage_EndsInDeadLetterQueueWithItsReason()
    {
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await broker.DeclareConsumerAsync(Consumer);
        var observer = new Observer();
        var calls = 0;
        var message = new Message("payment.succeeded", "not json"u8.ToArray()) { Id = "pay_" + Guid.NewGuid().ToString("N"), Aggregate = "acct_9" };

        using (var host = await ConsumerHost.StartAsync(database, broker, observer, m => m.AddConsumer(
            Consumer,
            (_, _) =>
            {
                Interlocked.Increment(ref calls);
                throw new InvalidOperationException("account acct_9 is closed");
            },
            o =>
            {
                o.MaxAttempts = 3;
                o.RetryDelay = TimeSpan.Zero;
            })))
        {
            await host.Services.GetRequiredService<IMessagePublisher>().PublishAsync(message, default);
            await ConsumerHost.EventuallyAsync(async () => await broker.ReadyAsync(broker.DeadLetterQueue(Consumer)) == 1, Wait, "the dead letter");
            await host.StopAsync();
        }

        Assert.Equal(3, calls);
        Assert.Equal(0u, await broker.ReadyAsync(broker.Queue(Consumer)));
        var deadLetter = await broker.GetAsync(broker.DeadLetterQueue(Consumer));
        Assert.NotNull(deadLetter);
        Assert.Equal(message.Id, deadLetter.BasicProperties.MessageId);
        Assert.Equal("payment.succeeded", deadLetter.BasicProperties.Type);
        Assert.Equal("not json", Encoding.UTF8.GetString(deadLetter.Body.Span));
        var headers = deadLetter.BasicProperties.Headers!;
        Assert.Equal("System.InvalidOperationException: account acct_9 is closed", Encoding.UTF8.GetString((byte[])headers["idem-dead-letter-reason"]!));
        Assert.Equal(Consumer, Encoding.UTF8.GetString((byte[])headers["idem-dead-letter-consumer"]!));
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM idem_inbox WHERE message_id = '{message.Id}' AND state = 2 AND attempts = 3 AND last_error = 'System.InvalidOperationException: account acct_9 is closed'"));
    }

    [Fact]
    public async Task Stop_WhileTheBrokerHasNotConfirmedTheDeadLetterCopy_FinishesTheCopyAndAcknowledges()
    {
        await using var database = new TempDatabase();
        await using var broker = new TestBroker();
        await broker.DeclareConsumerAsync(Consumer, "payment.*");
        await using var proxy = new HoldingProxy(RabbitMqServer.Uri);
        var message = new Message("payment.succeeded", "not json"u8.ToArray()) { Id = "pay_" + Guid.NewGuid().ToString("N") };

        using (var host = await ConsumerHost.StartAsync(database, broker, new Observer(), m => m.AddConsumer(
            Consumer,
            (_, _) =>
            {
                // From here the broker's answers wait: it will get the dead-letter copy, and its confirm will not come back.
                proxy.HoldBrokerToClient();
                throw new InvalidOperationException("account closed");
            },
            o =>
            {
                o.MessageTypes.Add("payment.*");
                o.MaxAttempts = 1;
                o.RetryDelay = TimeSpan.Zero;
            }), proxy.Uri))
        {
            // The host's publishing channel is opened (and confirmed) before the broker's answers are held, by a message no
            // queue takes. The poison message goes in over a connection of its own, so its confirm never waits on the hold.
            await host.Services.GetRequiredService<IMessagePublisher>().PublishAsync(new Message("warmup.unrouted", "{}"u8.ToArray()), default);
            await PublishAsync(broker, message);
            await ConsumerHost.EventuallyAsync(async () => await broker.ReadyAsync(broker.DeadLetterQueue(Consumer)) == 1, Wait, "the dead-letter copy");

            // The host stops while the consumer waits for the copy's confirm; the confirm arrives only after the stop began.
            var stopping = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => stopping.TrySetResult());
            var stop = host.StopAsync();
            await stopping.Task.WaitAsync(Wait);
            await Task.Delay(500);
            proxy.Release();
            await stop.WaitAsync(Wait);
        }

        // The delivery was acknowledged: nothing came back to the queue, and there is one copy.
        Assert.Equal(0u, await broker.ReadyAsync(broker.Queue(Consumer)));
        Assert.Equal(1u, await broker.ReadyAsync(broker.DeadLetterQueue(Consumer)));
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM idem_inbox WHERE message_id = '{message.Id}' AND state = 2"));
    }

    [Fact]
    public async Task Publish_RequireRouteAndNoQueueBound_FailsSoTheOutboxKeepsTheMessage()
    {
        await using var broker = new TestBroker();
        var message = new Message("refund.created", "{}"u8.ToArray());

        var unrouted = await Record.ExceptionAsync(() => PublishAsync(broker, message, requireRoute: true));
        await PublishAsync(broker, message, requireRoute: false);
        await broker.DeclareConsumerAsync(Consumer, "refund.*");
        await PublishAsync(broker, message, requireRoute: true);

        Assert.IsAssignableFrom<global::RabbitMQ.Client.Exceptions.PublishException>(unrouted);
        Assert.Equal(1u, await broker.ReadyAsync(broker.Queue(Consumer)));
    }

    private static async ValueTask InsertEffectAsync(MessageContext context, CancellationToken cancellationToken)
    {
        await using var command = context.Connection.CreateCommand();
        command.Transaction = context.Transaction;
        if (context.Message.Aggregate is { } account)
        {
            command.CommandText = "INSERT INTO effects (message_id, account, n) VALUES ($id, $account, $n)";
            command.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter("$account", account));
            command.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter("$n", int.Parse(Encoding.UTF8.GetString(context.Message.Body.Span), System.Globalization.CultureInfo.InvariantCulture)));
        }
        else
        {
            command.CommandText = "INSERT INTO effects (message_id) VALUES ($id)";
        }

        command.Parameters.Add(new Microsoft.Data.Sqlite.SqliteParameter("$id", context.Message.Id));
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    // Holds the delivery right after its commit, before the transport settles it, until the host has been stopping a while.
    private sealed class StallingObserver : Observer
    {
        public TaskCompletionSource Reached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public CancellationToken Stopping { get; set; }

        protected override void AfterCommitted(Message message)
        {
            Reached.TrySetResult();
            Stopping.WaitHandle.WaitOne(Wait);

            // Long enough for a stop that does not wait for this delivery to close its channel first.
            Thread.Sleep(500);
        }
    }

    private static async Task PublishAsync(TestBroker broker, Message message, bool requireRoute = false)
    {
        var services = new ServiceCollection();
        services.AddIdempotentMessaging().UseRabbitMq(RabbitMqServer.Uri, o =>
        {
            broker.Configure(o);
            o.RequireRoute = requireRoute;
        });
        await using var provider = services.BuildServiceProvider();
        await provider.GetRequiredService<IMessagePublisher>().PublishAsync(message, default);
    }
}
