using System.Data.Common;
using System.Globalization;
using BenchmarkDotNet.Attributes;
using Idem.Messaging;
using Idem.Messaging.Transport;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Benchmarks;

/// <summary>
/// A consumer's throughput with the inbox against the same consumer without it, per message: the handler writes one row
/// in a transaction and commits. Baseline: it opens the connection and transaction itself. Idem: the dispatcher claims
/// the message id in the inbox first, in that same transaction. No broker: this is what the inbox adds to a consumer;
/// the broker's own cost (delivery, acknowledgement) is the same either way and would only dilute the ratio.
/// </summary>
[MemoryDiagnoser]
public class InboxBenchmarks
{
    private const int MessagesPerInvoke = 50;

    private BenchDatabase _database = null!;
    private ServiceProvider _services = null!;
    private IMessageDispatcher _dispatcher = null!;
    private long _sequence;

    [Params(MessagingDatabaseKind.Sqlite, MessagingDatabaseKind.Postgres)]
    public MessagingDatabaseKind Database { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _database = new BenchDatabase(Database);
        var services = new ServiceCollection();
        services.AddLogging();
        var effects = _database.Effects;
        _database.Use(services.AddIdempotentMessaging(_database.Configure))
            .AddConsumer("statements", (context, cancellationToken) => WriteEffectAsync(context.Connection, context.Transaction, effects, context.Consumer, context.Message, cancellationToken));
        _services = services.BuildServiceProvider();
        _dispatcher = _services.GetRequiredService<IMessageDispatcher>();

        // Creates the tables before anything is measured.
        _dispatcher.DispatchAsync("statements", NextMessage(), default).AsTask().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _services.Dispose();
        _database.DisposeAsync().AsTask().GetAwaiter().GetResult();
    }

    // Both variants get a new message id each time, made the same way.
    private Message NextMessage()
        => new("payment.succeeded", "{\"amount\":2500}"u8.ToArray()) { Id = "evt_" + (++_sequence).ToString(CultureInfo.InvariantCulture) };

    [Benchmark(Baseline = true, OperationsPerInvoke = MessagesPerInvoke, Description = "handler in its own transaction (no inbox)")]
    public async Task WithoutInbox()
    {
        for (var i = 0; i < MessagesPerInvoke; i++)
        {
            var message = NextMessage();
            var connection = await _database.DataSource.OpenConnectionAsync();
            await using (connection)
            {
                var transaction = await connection.BeginTransactionAsync();
                await using (transaction)
                {
                    await WriteEffectAsync(connection, transaction, _database.Effects, "statements", message, default);
                    await transaction.CommitAsync();
                }
            }
        }
    }

    [Benchmark(OperationsPerInvoke = MessagesPerInvoke, Description = "handler behind the inbox (claim + handler + commit)")]
    public async Task WithInbox()
    {
        for (var i = 0; i < MessagesPerInvoke; i++)
        {
            var result = await _dispatcher.DispatchAsync("statements", NextMessage(), default);
            if (result.Outcome != DeliveryOutcome.Handled)
            {
                throw new InvalidOperationException($"Unexpected outcome {result.Outcome}: {result.Reason}");
            }
        }
    }

    private static async ValueTask WriteEffectAsync(DbConnection connection, DbTransaction transaction, string table, string consumer, Message message, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"INSERT INTO {table} (consumer, message_id, amount) VALUES (@c, @m, 2500)";
        var c = command.CreateParameter();
        c.ParameterName = "@c";
        c.Value = consumer;
        command.Parameters.Add(c);
        var m = command.CreateParameter();
        m.ParameterName = "@m";
        m.Value = message.Id;
        command.Parameters.Add(m);
        await command.ExecuteNonQueryAsync(cancellationToken);
    }
}
