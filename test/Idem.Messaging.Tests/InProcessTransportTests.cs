using Idem.Messaging.Tests.Infrastructure;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.Tests;

/// <summary>
/// <c>UseInProcess</c>: the relay hands each committed message to the matching consumers of this process, each in its inbox
/// transaction; a consumer failure keeps the message in the outbox, and the retry moves nothing twice.
/// </summary>
public abstract class InProcessTransportTests(TestDatabase database)
{
    [Fact]
    public async Task Relay_MessageCommitted_EachMatchingConsumerHandlesItOnceAndNoOtherSeesIt()
    {
        var calls = new Dictionary<string, int> { ["statements"] = 0, ["audit"] = 0, ["refunds"] = 0 };
        await using var harness = await Harness.CreateAsync(
            database,
            b => b.AddConsumer("statements", Counted(calls), o => o.MessageTypes.Add("payment.*"))
                .AddConsumer("audit", Counted(calls))
                .AddConsumer("refunds", Counted(calls), o => o.MessageTypes.Add("refund.*"))
                .UseInProcess(),
            ownTransport: true);
        var message = Harness.NewMessage("payment.succeeded", "acct_1");
        await CommitAsync(harness, message);

        var pass = await harness.Relay.RunPassAsync(default);
        var again = await harness.Relay.RunPassAsync(default);

        // A redelivery (the same message published again) is skipped by both consumers' inboxes.
        await harness.Services.GetRequiredService<IMessagePublisher>().PublishAsync(message, default);

        Assert.IsType<InProcessPublisher>(harness.Services.GetRequiredService<IMessagePublisher>());
        Assert.Equal((1, 1, 0), (pass.Read, pass.Published, pass.Failed));
        Assert.Equal(0, again.Read);
        Assert.Equal((1, 1, 0), (calls["statements"], calls["audit"], calls["refunds"]));
        Assert.Equal(2, await harness.EffectCountAsync(message.Id));
        Assert.Equal((1, 0, null), await harness.InboxRowAsync("statements", message.Id));
        Assert.Equal((1, 0, null), await harness.InboxRowAsync("audit", message.Id));
        Assert.Null(await harness.InboxRowAsync("refunds", message.Id));
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE published_at IS NULL"));
    }

    [Fact]
    public async Task Relay_OneConsumerFails_MessageStaysInOutboxAndTheRetryMovesNothingTwice()
    {
        var failing = true;
        var calls = new Dictionary<string, int> { ["ledger"] = 0, ["statements"] = 0 };
        await using var harness = await Harness.CreateAsync(
            database,
            b => b.AddConsumer("ledger", Counted(calls))
                .AddConsumer("statements", async (context, cancellationToken) =>
                {
                    await Counted(calls)(context, cancellationToken);
                    if (failing)
                    {
                        throw new InvalidOperationException("statements store down");
                    }
                }, o => o.RetryDelay = TimeSpan.Zero)
                .UseInProcess(),
            ownTransport: true);
        var message = Harness.NewMessage("payment.succeeded", "acct_1");
        var follower = Harness.NewMessage("payment.refunded", "acct_1");
        await CommitAsync(harness, message, follower);

        var failed = await harness.Relay.RunPassAsync(default);

        // The first consumer committed; the second rolled back, so the message (and its aggregate's follower) waits.
        Assert.Equal(0, failed.Published);
        Assert.Equal(1, failed.Failed);
        Assert.Equal(2, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE published_at IS NULL"));
        Assert.Equal(1, await harness.EffectCountAsync(message.Id));
        Assert.Equal(0, await harness.EffectCountAsync(follower.Id));
        Assert.Contains("statements store down", (await harness.InboxRowAsync("statements", message.Id))!.Value.Error);

        failing = false;
        var retried = await harness.Relay.RunPassAsync(default);

        Assert.Equal((2, 0), (retried.Published, retried.Failed));
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE published_at IS NULL"));

        // The ledger consumer ran once per message (its copy of the retried one was skipped); statements ran twice for the
        // first message (one failure, one commit) and once for the follower.
        Assert.Equal((2, 3), (calls["ledger"], calls["statements"]));
        Assert.Equal(2, await harness.EffectCountAsync(message.Id));
        Assert.Equal(2, await harness.EffectCountAsync(follower.Id));
        Assert.Equal((1, 1), ((await harness.InboxRowAsync("statements", message.Id))!.Value.State, (await harness.InboxRowAsync("ledger", message.Id))!.Value.State));
    }

    [Fact]
    public async Task Relay_ConsumerDeadLettersTheMessage_PublishCompletesAndTheAggregateMovesOn()
    {
        await using var harness = await Harness.CreateAsync(
            database,
            b => b.AddConsumer("statements", (_, _) => throw new FormatException("not a payment"), o =>
                {
                    o.MaxAttempts = 1;
                    o.RetryDelay = TimeSpan.Zero;
                })
                .UseInProcess(),
            ownTransport: true);
        var poison = Harness.NewMessage("payment.succeeded", "acct_1");
        var next = Harness.NewMessage("payment.succeeded", "acct_1");
        await CommitAsync(harness, poison, next);

        var pass = await harness.Relay.RunPassAsync(default);

        Assert.Equal((2, 0), (pass.Published, pass.Failed));
        var row = (await harness.InboxRowAsync("statements", poison.Id))!.Value;
        Assert.Equal((2, 1), (row.State, row.Attempts));
        Assert.Contains("not a payment", row.Error);
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE published_at IS NULL"));
    }

    // Enqueues the messages in one business transaction and commits it.
    private static Task CommitAsync(Harness harness, params Message[] messages)
        => harness.InTransactionAsync(async (_, transaction) =>
        {
            foreach (var message in messages)
            {
                await harness.Outbox.EnqueueAsync(transaction, message);
            }
        });

    // Counts the consumer's calls and writes its effect into the harness's table (found through the delivery's scope).
    private Func<MessageContext, CancellationToken, ValueTask> Counted(Dictionary<string, int> calls)
        => (context, _) =>
        {
            lock (calls)
            {
                calls[context.Consumer]++;
            }

            return Harness.WriteEffectAsync(context, database.Table(context.Services.GetRequiredService<IOptions<MessagingOptions>>().Value.TablePrefix, "effects"));
        };
}

public sealed class SqliteInProcessTransportTests(SqliteTestDatabase database) : InProcessTransportTests(database), IClassFixture<SqliteTestDatabase>;

[Trait("Category", "PostgreSQL")]
public sealed class PostgresInProcessTransportTests(PostgresTestDatabase database) : InProcessTransportTests(database), IClassFixture<PostgresTestDatabase>;

/// <summary>Which consumers a message type reaches: RabbitMQ's topic rules, which the in-process transport follows too.</summary>
public sealed class TopicPatternTests
{
    [Theory]
    [InlineData("#", "payment.succeeded", true)]
    [InlineData("#", "payment", true)]
    [InlineData("payment.*", "payment.succeeded", true)]
    [InlineData("payment.*", "payment", false)]
    [InlineData("payment.*", "payment.card.succeeded", false)]
    [InlineData("payment.#", "payment", true)]
    [InlineData("payment.#", "payment.card.succeeded", true)]
    [InlineData("*.succeeded", "refund.succeeded", true)]
    [InlineData("*.succeeded", "refund.failed", false)]
    [InlineData("#.succeeded", "payment.card.succeeded", true)]
    [InlineData("payment.succeeded", "payment.succeeded", true)]
    [InlineData("payment.succeeded", "Payment.succeeded", false)]
    [InlineData("payment.*.done", "payment.x.done", true)]
    [InlineData("payment.*.done", "payment.done", false)]
    public void Matches_FollowsRabbitMqTopicRules(string pattern, string type, bool expected)
        => Assert.Equal(expected, TopicPattern.Matches(pattern, type));
}
