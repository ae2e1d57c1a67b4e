using Idem.Messaging.Data;
using Idem.Messaging.Tests.Infrastructure;

namespace Idem.Messaging.Tests;

/// <summary>
/// The transactional outbox on a real database: a message exists exactly when its business change committed; the relay
/// publishes it after the commit, marks it, keeps each aggregate's order through failures, and a crash only delays it.
/// </summary>
public abstract class OutboxTests(TestDatabase database)
{
    [Fact]
    public async Task Enqueue_BusinessTransactionCommits_RelayPublishesOnceInOrderAndMarks()
    {
        await using var harness = await Harness.CreateAsync(database, _ => { });
        var messages = new[] { Harness.NewMessage("a.created", "acct_1"), Harness.NewMessage("a.funded", "acct_1"), Harness.NewMessage("b.created") };
        await harness.InTransactionAsync(async (connection, transaction) =>
        {
            await BusinessWriteAsync(harness, connection, transaction);
            foreach (var message in messages)
            {
                await harness.Outbox.EnqueueAsync(transaction, message);
            }
        });

        var first = await harness.Relay.RunPassAsync(default);
        var second = await harness.Relay.RunPassAsync(default);

        Assert.Equal((3, 3, 0), (first.Read, first.Published, first.Failed));
        Assert.Equal(0, second.Read);
        Assert.Equal(messages.Select(m => m.Id).Order(), harness.Publisher.Published.Select(m => m.Id).Order());
        Assert.Equal(["a.created", "a.funded"], harness.Publisher.Published.Where(m => m.Aggregate == "acct_1").Select(m => m.Type));
        var published = harness.Publisher.Published.Single(m => m.Id == messages[0].Id);
        Assert.Equal(("application/json", "{\"n\":1}"), (published.ContentType, System.Text.Encoding.UTF8.GetString(published.Body.Span)));
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE published_at IS NULL"));
    }

    [Fact]
    public async Task Enqueue_BusinessTransactionRollsBack_MessageNeverExists()
    {
        await using var harness = await Harness.CreateAsync(database, _ => { });
        await harness.InTransactionAsync(
            async (connection, transaction) =>
            {
                await BusinessWriteAsync(harness, connection, transaction);
                await harness.Outbox.EnqueueAsync(transaction, Harness.NewMessage());
            },
            commit: false);

        var pass = await harness.Relay.RunPassAsync(default);

        Assert.Equal(0, pass.Read);
        Assert.Empty(harness.Publisher.Published);
        Assert.Equal(0, await harness.EffectCountAsync());
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable}"));
    }

    [Fact]
    public async Task Relay_PublishFails_AggregateWaitsInOrderWhileOthersProceed()
    {
        await using var harness = await Harness.CreateAsync(database, _ => { });
        var a = Enumerable.Range(1, 3).Select(i => Harness.NewMessage($"a.{i}", "acct_a")).ToArray();
        var b = Enumerable.Range(1, 2).Select(i => Harness.NewMessage($"b.{i}", "acct_b")).ToArray();
        await harness.InTransactionAsync(async (_, transaction) =>
        {
            foreach (var message in new[] { a[0], b[0], a[1], b[1], a[2] })
            {
                await harness.Outbox.EnqueueAsync(transaction, message);
            }
        });
        harness.Publisher.Fail = m => m.Id == a[1].Id;

        var failed = await harness.Relay.RunPassAsync(default);

        Assert.Equal((5, 3, 1), (failed.Read, failed.Published, failed.Failed));
        Assert.Equal(["a.1"], harness.Publisher.Published.Where(m => m.Aggregate == "acct_a").Select(m => m.Type));
        Assert.Equal(["b.1", "b.2"], harness.Publisher.Published.Where(m => m.Aggregate == "acct_b").Select(m => m.Type));
        var row = Assert.Single(await database.RowsAsync($"SELECT attempts, last_error FROM {harness.OutboxTable} WHERE id = '{a[1].Id}'"));
        Assert.Equal(1, Convert.ToInt32(row[0]));
        Assert.Contains("broker refused", (string)row[1]!);

        harness.Publisher.Fail = _ => false;
        var retried = await harness.Relay.RunPassAsync(default);

        Assert.Equal((2, 2, 0), (retried.Read, retried.Published, retried.Failed));
        Assert.Equal(["a.1", "a.2", "a.3"], harness.Publisher.Published.Where(m => m.Aggregate == "acct_a").Select(m => m.Type));
        Assert.Equal(5, harness.Publisher.Published.Count);
    }

    [Fact]
    public async Task Relay_ProcessStoppedBetweenCommitAndPublish_NextRelayPublishesIt()
    {
        var message = Harness.NewMessage();
        string prefix;
        await using (var crashed = await Harness.CreateAsync(database, _ => { }))
        {
            prefix = crashed.Prefix;
            await crashed.InTransactionAsync((_, transaction) => crashed.Outbox.EnqueueAsync(transaction, message).AsTask());

            // The process goes away here: committed, never relayed.
        }

        await using var restarted = await Harness.CreateAsync(database, _ => { }, prefix: prefix);
        var pass = await restarted.Relay.RunPassAsync(default);

        Assert.Equal(1, pass.Published);
        Assert.Equal(message.Id, Assert.Single(restarted.Publisher.Published).Id);
    }

    [Fact]
    public async Task Purge_PublishedPastRetention_DeletedUnpublishedKept()
    {
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        await using var harness = await Harness.CreateAsync(database, _ => { }, time, o => o.OutboxRetention = TimeSpan.FromDays(1));
        var published = Harness.NewMessage();
        var stuck = Harness.NewMessage();
        await harness.InTransactionAsync((_, transaction) => harness.Outbox.EnqueueAsync(transaction, published).AsTask());
        await harness.Relay.RunPassAsync(default);
        harness.Publisher.Fail = _ => true;
        await harness.InTransactionAsync((_, transaction) => harness.Outbox.EnqueueAsync(transaction, stuck).AsTask());
        await harness.Relay.RunPassAsync(default);

        time.Advance(TimeSpan.FromDays(2));
        var (_, outbox) = await harness.Purge.PurgeAsync(default);

        Assert.Equal(1, outbox);
        var left = Assert.Single(await database.RowsAsync($"SELECT id FROM {harness.OutboxTable}"));
        Assert.Equal(stuck.Id, left[0]);
    }

    private static async Task BusinessWriteAsync(Harness harness, System.Data.Common.DbConnection connection, System.Data.Common.DbTransaction transaction)
    {
        await using var command = Db.Command(connection, transaction, $"INSERT INTO {harness.Effects} (consumer, message_id) VALUES ('business', 'change')");
        await command.ExecuteNonQueryAsync();
    }
}

public sealed class SqliteOutboxTests(SqliteTestDatabase database) : OutboxTests(database), IClassFixture<SqliteTestDatabase>;

[Trait("Category", "PostgreSQL")]
public sealed class PostgresOutboxTests(PostgresTestDatabase database) : OutboxTests(database), IClassFixture<PostgresTestDatabase>
{
    [Fact]
    public async Task Relay_AnotherNodeHoldsTheRelay_PassPublishesNothingUntilItLetsGo()
    {
        await using var harness = await Harness.CreateAsync(database, _ => { });
        await harness.InTransactionAsync((_, transaction) => harness.Outbox.EnqueueAsync(transaction, Harness.NewMessage()).AsTask());
        var sql = (PostgresMessagingSql)database.CreateSql(harness.Prefix);

        // Another node's pass: the same advisory lock, held by an open transaction.
        await using (var connection = await database.DataSource.OpenConnectionAsync())
        await using (var transaction = await connection.BeginTransactionAsync())
        {
            Assert.True(await sql.TryEnterRelayAsync(connection, transaction, default));

            var blocked = await harness.Relay.RunPassAsync(default);

            Assert.True(blocked.Busy);
            Assert.Empty(harness.Publisher.Published);
        }

        var after = await harness.Relay.RunPassAsync(default);

        Assert.Equal((false, 1), (after.Busy, after.Published));
    }
}
