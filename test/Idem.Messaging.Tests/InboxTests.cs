using Idem.Messaging.Tests.Infrastructure;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Messaging.Tests;

/// <summary>
/// The idempotent consumer on a real database (BEHAVIOUR §8): the inbox record and the handler's effects commit or roll
/// back together; redeliveries are skipped; failures are counted and end in the dead-letter with their reason.
/// </summary>
public abstract class InboxTests(TestDatabase database)
{
    private const string Consumer = "statements";

    [Fact]
    public async Task Dispatch_HandlerSucceeds_EffectsAndInboxRecordCommitTogether()
    {
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, (ctx, _) => Harness.WriteEffectAsync(ctx, Effects(ctx))));
        var message = Harness.NewMessage();

        var result = await harness.Dispatcher.DispatchAsync(Consumer, message, default);

        Assert.Equal(DeliveryOutcome.Handled, result.Outcome);
        Assert.Equal(1, await harness.EffectCountAsync(message.Id));
        Assert.Equal((1, 0, null), await harness.InboxRowAsync(Consumer, message.Id));
    }

    [Fact]
    public async Task Dispatch_HandlerThrowsAfterWriting_EffectsAndInboxClaimRollBackTogether()
    {
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, async (ctx, _) =>
        {
            await Harness.WriteEffectAsync(ctx, Effects(ctx));
            throw new InvalidOperationException("statement service down");
        }, o => o.RetryDelay = TimeSpan.Zero));
        var message = Harness.NewMessage();

        var result = await harness.Dispatcher.DispatchAsync(Consumer, message, default);

        Assert.Equal(DeliveryOutcome.Retry, result.Outcome);
        Assert.Contains("statement service down", result.Reason);

        // Neither the effect nor the claim (state 1) survived: the only row is the failure count, written afterwards.
        Assert.Equal(0, await harness.EffectCountAsync());
        var row = await harness.InboxRowAsync(Consumer, message.Id);
        Assert.Equal(0, row!.Value.State);
        Assert.Equal(1, row.Value.Attempts);
        Assert.Contains("statement service down", row.Value.Error);
    }

    [Fact]
    public async Task Dispatch_Redelivered_SkippedWithoutRunningTheHandler()
    {
        var calls = 0;
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, (ctx, _) =>
        {
            Interlocked.Increment(ref calls);
            return Harness.WriteEffectAsync(ctx, Effects(ctx));
        }));
        var message = Harness.NewMessage();

        var first = await harness.Dispatcher.DispatchAsync(Consumer, message, default);
        var second = await harness.Dispatcher.DispatchAsync(Consumer, message, default);
        var third = await harness.Dispatcher.DispatchAsync(Consumer, Harness.NewMessage(id: message.Id), default);

        Assert.Equal(DeliveryOutcome.Handled, first.Outcome);
        Assert.Equal(DeliveryOutcome.Duplicate, second.Outcome);
        Assert.Equal(DeliveryOutcome.Duplicate, third.Outcome);
        Assert.Equal(1, calls);
        Assert.Equal(1, await harness.EffectCountAsync());
    }

    [Fact]
    public async Task Dispatch_OneMessageTwoConsumers_EachHandlesItOnce()
    {
        await using var harness = await Harness.CreateAsync(database, b => b
            .AddConsumer("statements", (ctx, _) => Harness.WriteEffectAsync(ctx, Effects(ctx)))
            .AddConsumer("fraud", (ctx, _) => Harness.WriteEffectAsync(ctx, Effects(ctx))));
        var message = Harness.NewMessage();

        var results = new[]
        {
            await harness.Dispatcher.DispatchAsync("statements", message, default),
            await harness.Dispatcher.DispatchAsync("fraud", message, default),
            await harness.Dispatcher.DispatchAsync("statements", message, default),
            await harness.Dispatcher.DispatchAsync("fraud", message, default),
        };

        Assert.Equal([DeliveryOutcome.Handled, DeliveryOutcome.Handled, DeliveryOutcome.Duplicate, DeliveryOutcome.Duplicate], results.Select(r => r.Outcome));
        Assert.Equal(2, await harness.EffectCountAsync(message.Id));
    }

    [Fact]
    public async Task Dispatch_HandlerKeepsFailing_DeadLettersAtMaxAttemptsWithTheReason()
    {
        var calls = 0;
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, (ctx, _) =>
        {
            Interlocked.Increment(ref calls);
            throw new FormatException($"poison on attempt {ctx.Attempt}");
        }, o =>
        {
            o.MaxAttempts = 3;
            o.RetryDelay = TimeSpan.Zero;
        }));
        var message = Harness.NewMessage();

        var results = new List<DeliveryResult>();
        for (var i = 0; i < 4; i++)
        {
            results.Add(await harness.Dispatcher.DispatchAsync(Consumer, message, default));
        }

        Assert.Equal([DeliveryOutcome.Retry, DeliveryOutcome.Retry, DeliveryOutcome.DeadLetter, DeliveryOutcome.DeadLetter], results.Select(r => r.Outcome));
        Assert.Equal("System.FormatException: poison on attempt 3", results[2].Reason);

        // A redelivery of a dead letter does not run the handler again; it keeps the reason.
        Assert.Equal(3, calls);
        Assert.Equal("System.FormatException: poison on attempt 3", results[3].Reason);
        Assert.Equal((2, 3, "System.FormatException: poison on attempt 3"), await harness.InboxRowAsync(Consumer, message.Id));
    }

    [Fact]
    public async Task Dispatch_FailsOnceThenSucceeds_SecondAttemptCommitsItsEffectsOnce()
    {
        var attempts = new List<int>();
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, async (ctx, _) =>
        {
            lock (attempts)
            {
                attempts.Add(ctx.Attempt);
            }

            await Harness.WriteEffectAsync(ctx, Effects(ctx), $"attempt {ctx.Attempt}");
            if (ctx.Attempt == 1)
            {
                throw new TimeoutException("downstream timed out");
            }
        }, o => o.RetryDelay = TimeSpan.Zero));
        var message = Harness.NewMessage();

        var first = await harness.Dispatcher.DispatchAsync(Consumer, message, default);
        var second = await harness.Dispatcher.DispatchAsync(Consumer, message, default);
        var third = await harness.Dispatcher.DispatchAsync(Consumer, message, default);

        Assert.Equal((DeliveryOutcome.Retry, DeliveryOutcome.Handled, DeliveryOutcome.Duplicate), (first.Outcome, second.Outcome, third.Outcome));
        Assert.Equal([1, 2], attempts);
        var effects = await database.RowsAsync($"SELECT note FROM {harness.Effects}");
        Assert.Equal("attempt 2", Assert.Single(effects)[0]);
        Assert.Equal(1, (await harness.InboxRowAsync(Consumer, message.Id))!.Value.State);
    }

    [Fact]
    public async Task Dispatch_ConcurrentDuplicates_ExactlyOneCommitsTheRestAreSkipped()
    {
        const int Rounds = 10;
        const int Racers = 4;
        var calls = 0;
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, (ctx, _) =>
        {
            Interlocked.Increment(ref calls);
            return Harness.WriteEffectAsync(ctx, Effects(ctx));
        }));

        for (var round = 0; round < Rounds; round++)
        {
            var message = Harness.NewMessage();
            using var ready = new CountdownEvent(Racers);
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var racers = Enumerable.Range(0, Racers).Select(_ => Task.Run(async () =>
            {
                ready.Signal();
                await gate.Task;
                return await harness.Dispatcher.DispatchAsync(Consumer, message, default);
            })).ToArray();
            await Task.Run(() => ready.Wait(TimeSpan.FromSeconds(30)));
            gate.SetResult();
            var results = await Task.WhenAll(racers);

            Assert.Equal(1, results.Count(r => r.Outcome == DeliveryOutcome.Handled));
            Assert.Equal(Racers - 1, results.Count(r => r.Outcome == DeliveryOutcome.Duplicate));
            Assert.Equal(1, await harness.EffectCountAsync(message.Id));
        }

        Assert.Equal(Rounds, calls);
    }

    [Fact]
    public async Task Dispatch_HandlerEnqueuesThenThrows_OutgoingMessageRollsBackWithTheEffects()
    {
        var fail = true;
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer(Consumer, async (ctx, ct) =>
        {
            await Harness.WriteEffectAsync(ctx, Effects(ctx));
            await ctx.Services.GetRequiredService<IOutbox>().EnqueueAsync(ctx.Transaction, new Message("statement.updated", "{}"u8.ToArray()) { Id = "out-" + ctx.Message.Id }, ct);
            if (fail)
            {
                throw new InvalidOperationException("after enqueue");
            }
        }, o => o.RetryDelay = TimeSpan.Zero));
        var message = Harness.NewMessage();

        Assert.Equal(DeliveryOutcome.Retry, (await harness.Dispatcher.DispatchAsync(Consumer, message, default)).Outcome);
        Assert.Equal(0, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable}"));

        fail = false;
        Assert.Equal(DeliveryOutcome.Handled, (await harness.Dispatcher.DispatchAsync(Consumer, message, default)).Outcome);
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM {harness.OutboxTable} WHERE id = 'out-{message.Id}'"));
        Assert.Equal(1, await harness.EffectCountAsync());
    }

    [Fact]
    public async Task Purge_PastRetention_DeletesHandledRowsAndKeepsDeadLetters()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 1, 0, 0, 0, TimeSpan.Zero));
        await using var harness = await Harness.CreateAsync(
            database,
            b => b.AddConsumer(Consumer, (ctx, _) => ctx.Message.Type == "poison" ? throw new InvalidDataException("bad") : Harness.WriteEffectAsync(ctx, Effects(ctx)), o =>
            {
                o.MaxAttempts = 1;
                o.RetryDelay = TimeSpan.Zero;
            }),
            time,
            o => o.InboxRetention = TimeSpan.FromDays(7));
        var old = Harness.NewMessage();
        var poison = Harness.NewMessage("poison");
        await harness.Dispatcher.DispatchAsync(Consumer, old, default);
        Assert.Equal(DeliveryOutcome.DeadLetter, (await harness.Dispatcher.DispatchAsync(Consumer, poison, default)).Outcome);
        time.Advance(TimeSpan.FromDays(6));
        var recent = Harness.NewMessage();
        await harness.Dispatcher.DispatchAsync(Consumer, recent, default);

        time.Advance(TimeSpan.FromDays(2));
        var (inbox, _) = await harness.Purge.PurgeAsync(default);

        Assert.Equal(1, inbox);
        Assert.Null(await harness.InboxRowAsync(Consumer, old.Id));
        Assert.Equal(2, (await harness.InboxRowAsync(Consumer, poison.Id))!.Value.State);
        Assert.Equal(1, (await harness.InboxRowAsync(Consumer, recent.Id))!.Value.State);
    }

    private string Effects(MessageContext context) => database.Table(PrefixOf(context), "effects");

    // The harness's tables share a prefix; the consumer's own table is found through the delivery's scope.
    private static string PrefixOf(MessageContext context) => context.Services.GetRequiredService<IOptions<MessagingOptions>>().Value.TablePrefix;
}

public sealed class SqliteInboxTests(SqliteTestDatabase database) : InboxTests(database), IClassFixture<SqliteTestDatabase>;

[Trait("Category", "PostgreSQL")]
public sealed class PostgresInboxTests(PostgresTestDatabase database) : InboxTests(database), IClassFixture<PostgresTestDatabase>
{
    [Fact]
    public async Task Dispatch_CommitFailsOnADeferredConstraint_EffectsAndClaimRollBackAndTheFailureCounts()
    {
        var calls = 0;
        string effects = "", ledger = "";
        await using var harness = await Harness.CreateAsync(database, b => b.AddConsumer("statements", async (ctx, ct) =>
        {
            Interlocked.Increment(ref calls);
            await Harness.WriteEffectAsync(ctx, effects);

            // Breaks a deferred unique constraint: nothing fails until the commit.
            await using var command = Idem.Messaging.Data.Db.Command(ctx.Connection, ctx.Transaction, $"INSERT INTO {ledger} (id) VALUES ('taken')");
            await command.ExecuteNonQueryAsync(ct);
        }, o =>
        {
            o.MaxAttempts = 2;
            o.RetryDelay = TimeSpan.Zero;
        }));
        effects = harness.Effects;
        ledger = database.Table(harness.Prefix, "ledger");
        await database.ExecuteAsync($"CREATE TABLE {ledger} (id text, CONSTRAINT {harness.Prefix}ledger_id UNIQUE (id) DEFERRABLE INITIALLY DEFERRED); INSERT INTO {ledger} (id) VALUES ('taken')");
        var message = Harness.NewMessage();

        var first = await harness.Dispatcher.DispatchAsync("statements", message, default);
        var second = await harness.Dispatcher.DispatchAsync("statements", message, default);

        Assert.Equal(DeliveryOutcome.Retry, first.Outcome);
        Assert.Contains("23505", first.Reason);
        Assert.Equal(DeliveryOutcome.DeadLetter, second.Outcome);
        Assert.Equal(2, calls);
        Assert.Equal(0, await harness.EffectCountAsync());
        Assert.Equal(1, await database.CountAsync($"SELECT count(*) FROM {ledger}"));
        Assert.Equal(2, (await harness.InboxRowAsync("statements", message.Id))!.Value.State);
    }
}
