using System.Collections.Concurrent;
using System.Data;
using System.Data.Common;
using Idem.Messaging.Data;
using Idem.Messaging.Inbox;
using Idem.Messaging.Outbox;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Messaging.Tests.Infrastructure;

/// <summary>
/// Messaging on a test database with fresh tables, built the way an application builds it (<c>AddIdempotentMessaging</c>),
/// without hosted services running: tests drive the dispatcher, the relay and the purge themselves.
/// </summary>
internal sealed class Harness : IAsyncDisposable
{
    private readonly ServiceProvider _provider;

    private Harness(TestDatabase database, string prefix, ServiceProvider provider)
    {
        Database = database;
        Prefix = prefix;
        _provider = provider;
    }

    public TestDatabase Database { get; }

    public string Prefix { get; }

    public FakePublisher Publisher { get; } = new();

    public IServiceProvider Services => _provider;

    public IMessageDispatcher Dispatcher => _provider.GetRequiredService<IMessageDispatcher>();

    public IOutbox Outbox => _provider.GetRequiredService<IOutbox>();

    public OutboxRelay Relay => _provider.GetRequiredService<OutboxRelay>();

    public MessagingPurge Purge => _provider.GetRequiredService<MessagingPurge>();

    public string Effects => Database.Table(Prefix, "effects");

    public string InboxTable => Database.Table(Prefix, "inbox");

    public string OutboxTable => Database.Table(Prefix, "outbox");

    /// <summary>
    /// Builds the harness. The relay publishes to <see cref="Publisher"/> unless <paramref name="ownTransport"/> is set,
    /// when the transport <paramref name="configure"/> chose (<c>UseInProcess</c>) stays.
    /// </summary>
    public static async Task<Harness> CreateAsync(
        TestDatabase database, Action<IIdempotentMessagingBuilder> configure, TimeProvider? time = null, Action<MessagingOptions>? options = null, string? prefix = null,
        bool ownTransport = false)
    {
        prefix ??= database.NewPrefix();
        var services = new ServiceCollection();
        services.AddLogging();
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        var builder = services.AddIdempotentMessaging(o =>
        {
            o.TablePrefix = prefix;
            if (database is PostgresTestDatabase)
            {
                o.Schema = database.Schema;
            }

            options?.Invoke(o);
        });
        database.Use(builder);
        configure(builder);
        Harness? harness = null;
        if (!ownTransport)
        {
            services.AddSingleton<IMessagePublisher>(_ => harness!.Publisher);
        }

        harness = new Harness(database, prefix, services.BuildServiceProvider());
        await database.ExecuteAsync($"CREATE TABLE IF NOT EXISTS {harness.Effects} (consumer text NOT NULL, message_id text NOT NULL, note text NULL)");
        return harness;
    }

    /// <summary>A handler's effect: one row in the business table, written through the delivery's transaction.</summary>
    public static async ValueTask WriteEffectAsync(MessageContext context, string table, string? note = null)
    {
        await using var command = Db.Command(context.Connection, context.Transaction, $"INSERT INTO {table} (consumer, message_id, note) VALUES (@c, @m, @n)");
        Db.AddText(command, "@c", context.Consumer);
        Db.AddText(command, "@m", context.Message.Id);
        Db.AddText(command, "@n", note);
        await command.ExecuteNonQueryAsync();
    }

    public Task<long> EffectCountAsync(string? messageId = null)
        => Database.CountAsync(messageId is null ? $"SELECT count(*) FROM {Effects}" : $"SELECT count(*) FROM {Effects} WHERE message_id = '{messageId}'");

    /// <summary>The inbox row of (consumer, message id): state, attempts, last error; null when there is none.</summary>
    public async Task<(int State, int Attempts, string? Error)?> InboxRowAsync(string consumer, string messageId)
    {
        var rows = await Database.RowsAsync($"SELECT state, attempts, last_error FROM {InboxTable} WHERE consumer = '{consumer}' AND message_id = '{messageId}'");
        return rows.Count == 0 ? null : (Convert.ToInt32(rows[0][0]), Convert.ToInt32(rows[0][1]), (string?)rows[0][2]);
    }

    /// <summary>Runs <paramref name="work"/> in a business transaction of its own and commits or rolls back.</summary>
    public async Task InTransactionAsync(Func<DbConnection, DbTransaction, Task> work, bool commit = true)
    {
        await using var connection = await Database.DataSource.OpenConnectionAsync();
        await using var transaction = await connection.BeginTransactionAsync();
        await work(connection, transaction);
        if (commit)
        {
            await transaction.CommitAsync();
        }
        else
        {
            await transaction.RollbackAsync();
        }
    }

    public ValueTask DisposeAsync() => _provider.DisposeAsync();

    public static Message NewMessage(string type = "thing.happened", string? aggregate = null, string? id = null)
    {
        var message = new Message(type, "{\"n\":1}"u8.ToArray()) { Aggregate = aggregate, ContentType = "application/json" };
        return id is null ? message : new Message(type, message.Body) { Id = id, Aggregate = aggregate, ContentType = "application/json" };
    }
}

/// <summary>A transport that records what the relay published, in order, and fails when told to.</summary>
internal sealed class FakePublisher : IMessagePublisher
{
    private readonly ConcurrentQueue<Message> _published = new();

    /// <summary>Fails the publish of a message while this returns true.</summary>
    public Func<Message, bool> Fail { get; set; } = _ => false;

    public IReadOnlyList<Message> Published => [.. _published];

    public ValueTask PublishAsync(Message message, CancellationToken cancellationToken)
    {
        if (Fail(message))
        {
            return ValueTask.FromException(new IOException($"broker refused {message.Id}"));
        }

        _published.Enqueue(message);
        return ValueTask.CompletedTask;
    }
}
