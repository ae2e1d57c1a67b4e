using System.Data.Common;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using Idem.Messaging;
using Idem.Messaging.Transport;
using Idem.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Idem.EntityFrameworkCore.Tests.Messaging;

/// <summary>
/// The outbox and the inbox with a DbContext. A transactional request enqueues an order's message in the claim's
/// transaction, through the context: the key, the order, the message and the response commit together, and a SaveChanges
/// that breaks a constraint leaves none of them. A consumer writes through a context joined to its delivery: the order, a
/// message it enqueues through the context and the inbox record commit together, a redelivery is skipped, and a failed
/// SaveChanges leaves no handled record and no message.
/// </summary>
public abstract class MessagingTests : IAsyncLifetime
{
    private const string Consumer = "orders-received";

    private WebApplication? _app;
    private HttpClient? _client;

    protected abstract void UseDatabase(DbContextOptionsBuilder options);

    protected abstract void AddStore(IIdempotencyBuilder idempotency);

    protected abstract void UseMessagingDatabase(IIdempotentMessagingBuilder messaging);

    protected virtual void ConfigureMessaging(MessagingOptions options)
    {
    }

    protected abstract Task CreateTablesAsync(ShopDb db);

    /// <summary>The qualified name of a messaging or keys table, as the test's SQL names it.</summary>
    protected abstract string Table(string name);

    protected abstract DbParameter Parameter(string name, object value);

    protected IServiceProvider Services => _app!.Services;

    public async Task InitializeAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0));
        builder.Services.AddDbContext<ShopDb>(UseDatabase);
        var idempotency = builder.Services.AddIdempotency();
        AddStore(idempotency);
        idempotency.AddEntityFrameworkCore<ShopDb>();

        // No transport: enqueued messages stay in the outbox, where the tests count them.
        var messaging = builder.Services.AddIdempotentMessaging(ConfigureMessaging);
        UseMessagingDatabase(messaging);
        messaging.AddConsumer<OrderReceivedHandler>(Consumer, c => c.RetryDelay = TimeSpan.Zero);

        _app = builder.Build();
        _app.UseIdempotency();
        _app.MapPost("/orders", async (PlaceOrder request, ShopDb db, IOutbox outbox, CancellationToken ct) =>
        {
            // The message first, then the order: a SaveChanges that fails must take the message with it.
            await outbox.EnqueueAsync(db, new Message("order.placed", Encoding.UTF8.GetBytes(request.Id.ToString())) { Id = MessageId(request.Id) }, ct);
            db.Orders.Add(new Order { Id = request.Id, Item = request.Item, Key = request.Item });
            await db.SaveChangesAsync(ct);
            return Results.Created($"/orders/{request.Id}", new { id = request.Id });
        }).RequireIdempotency(p => p.Transactional());

        await using (var scope = _app.Services.CreateAsyncScope())
        {
            await CreateTablesAsync(scope.ServiceProvider.GetRequiredService<ShopDb>());
        }

        _client = new HttpClient { BaseAddress = await LoopbackApp.StartAsync(_app) };
    }

    public async Task DisposeAsync()
    {
        _client?.Dispose();
        if (_app is not null)
        {
            await _app.DisposeAsync();
        }
    }

    [Fact]
    public async Task OrderWithAMessage_TheKeyOrderAndMessageCommitTogether_TheRetryIsReplayed()
    {
        var id = Guid.NewGuid();
        var key = NewKey();
        using var first = await PostAsync(key, id);
        using var retry = await PostAsync(key, id);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.True(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountOrdersAsync(id));
        Assert.Equal(1, await CountMessagesAsync(id));
        Assert.Equal(1, await CountKeysAsync(key));
    }

    [Fact]
    public async Task SaveChangesBreaksAConstraint_NoMessageNoOrderNoKey_TheRetryRunsOnce()
    {
        var id = Guid.NewGuid();
        var key = NewKey();
        await InsertOrderAsync(id, "in the way");

        using var failed = await PostAsync(key, id);

        Assert.Equal(HttpStatusCode.InternalServerError, failed.StatusCode);
        Assert.Equal(0, await CountMessagesAsync(id));
        Assert.Equal(0, await CountKeysAsync(key));
        Assert.Equal(0, await CountOrdersAsync(id, key));

        // The row in the way goes; the retry runs, once, and its retry is replayed.
        await DeleteOrderAsync(id);
        using var retry = await PostAsync(key, id);
        using var again = await PostAsync(key, id);
        Assert.Equal(HttpStatusCode.Created, retry.StatusCode);
        Assert.False(retry.Headers.Contains("Idempotent-Replayed"));
        Assert.True(again.Headers.Contains("Idempotent-Replayed"));
        Assert.Equal(1, await CountOrdersAsync(id, key));
        Assert.Equal(1, await CountMessagesAsync(id));
        Assert.Equal(1, await CountKeysAsync(key));
    }

    [Fact]
    public async Task ContextInATransactionOfItsOwn_TheMessageCommitsAndRollsBackWithIt()
    {
        var outbox = Services.GetRequiredService<IOutbox>();
        var kept = Guid.NewGuid();
        var dropped = Guid.NewGuid();
        foreach (var (id, commit) in new[] { (kept, true), (dropped, false) })
        {
            await using var scope = Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
            await using var transaction = await db.Database.BeginTransactionAsync();
            await outbox.EnqueueAsync(db, new Message("order.placed", Encoding.UTF8.GetBytes(id.ToString())) { Id = MessageId(id) });
            db.Orders.Add(new Order { Id = id, Item = "own transaction" });
            await db.SaveChangesAsync();
            await (commit ? transaction.CommitAsync() : transaction.RollbackAsync());
        }

        Assert.Equal(1, await CountMessagesAsync(kept));
        Assert.Equal(1, await CountOrdersAsync(kept));
        Assert.Equal(0, await CountMessagesAsync(dropped));
        Assert.Equal(0, await CountOrdersAsync(dropped));
    }

    [Fact]
    public async Task ContextWithoutATransaction_EnqueueIsRefusedWithTheReason()
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        var outbox = Services.GetRequiredService<IOutbox>();

        var error = await Assert.ThrowsAsync<InvalidOperationException>(
            async () => await outbox.EnqueueAsync(db, new Message("order.placed", new byte[] { 1 })));

        Assert.Contains("writes in no transaction", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Redelivery_IsSkipped_TheOrderIsWrittenOnce()
    {
        var dispatcher = Services.GetRequiredService<IMessageDispatcher>();
        var id = Guid.NewGuid();
        var message = Received(id);

        var first = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);
        var redelivery = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);

        Assert.Equal(DeliveryOutcome.Handled, first.Outcome);
        Assert.Equal(DeliveryOutcome.Duplicate, redelivery.Outcome);
        Assert.Equal(1, await CountOrdersAsync(id));
        Assert.Equal(1, await CountRecordedMessagesAsync(id));
        Assert.Equal(1L, await InboxStateAsync(message.Id)); // handled
    }

    [Fact]
    public async Task ConsumerSaveChangesBreaksAConstraint_NoOrderNoHandledRecord_TheRedeliveryRunsOnce()
    {
        var dispatcher = Services.GetRequiredService<IMessageDispatcher>();
        var id = Guid.NewGuid();
        var message = Received(id);
        await InsertOrderAsync(id, "in the way");

        var failed = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);

        Assert.Equal(DeliveryOutcome.Retry, failed.Outcome);
        Assert.Equal(0, await CountOrdersAsync(id, OrderReceivedHandler.Item));
        Assert.NotEqual(1L, await InboxStateAsync(message.Id)); // not handled: only its failure was counted
        Assert.Equal(0, await CountRecordedMessagesAsync(id));

        await DeleteOrderAsync(id);
        var redelivery = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);
        var again = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);
        Assert.Equal(DeliveryOutcome.Handled, redelivery.Outcome);
        Assert.Equal(DeliveryOutcome.Duplicate, again.Outcome);
        Assert.Equal(1, await CountOrdersAsync(id, OrderReceivedHandler.Item));
        Assert.Equal(1, await CountRecordedMessagesAsync(id));
    }

    [Fact]
    public async Task ConsumerThrowsAfterSaveChanges_TheOrderRollsBackWithTheDelivery()
    {
        var dispatcher = Services.GetRequiredService<IMessageDispatcher>();
        var id = Guid.NewGuid();
        var message = new Message("order.received", Encoding.UTF8.GetBytes(OrderReceivedHandler.Fail + id)) { Id = "order.received:" + id.ToString("N") };

        var failed = await dispatcher.DispatchAsync(Consumer, message, CancellationToken.None);

        Assert.Equal(DeliveryOutcome.Retry, failed.Outcome);
        Assert.Contains("after SaveChanges", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(0, await CountOrdersAsync(id));
        Assert.Equal(0, await CountRecordedMessagesAsync(id));
    }

    private static string NewKey() => Guid.NewGuid().ToString("N");

    private static string MessageId(Guid order) => "order.placed:" + order.ToString("N");

    private static string RecordedId(Guid order) => "order.recorded:" + order.ToString("N");

    private static Message Received(Guid order) => new("order.received", Encoding.UTF8.GetBytes(order.ToString())) { Id = "order.received:" + order.ToString("N") };

    private Task<HttpResponseMessage> PostAsync(string key, Guid id)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/orders") { Content = JsonContent.Create(new PlaceOrder(id, key)) };
        request.Headers.Add("Idempotency-Key", key);
        return _client!.SendAsync(request);
    }

    private async Task InsertOrderAsync(Guid id, string item)
    {
        await using var scope = Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<ShopDb>();
        db.Orders.Add(new Order { Id = id, Item = item });
        await db.SaveChangesAsync();
    }

    private async Task DeleteOrderAsync(Guid id)
    {
        await using var scope = Services.CreateAsyncScope();
        await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.Where(o => o.Id == id).ExecuteDeleteAsync();
    }

    private async Task<int> CountOrdersAsync(Guid id, string? item = null)
    {
        await using var scope = Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<ShopDb>().Orders.CountAsync(o => o.Id == id && (item == null || o.Item == item));
    }

    private Task<long> CountMessagesAsync(Guid order)
        => ScalarAsync<long>($"SELECT COUNT(*) FROM {Table("idem_outbox")} WHERE id = @id", ("@id", MessageId(order)));

    private Task<long> CountRecordedMessagesAsync(Guid order)
        => ScalarAsync<long>($"SELECT COUNT(*) FROM {Table("idem_outbox")} WHERE id = @id", ("@id", RecordedId(order)));

    private Task<long> CountKeysAsync(string key)
        => ScalarAsync<long>($"SELECT COUNT(*) FROM {Table("idem_keys")} WHERE key LIKE @pattern", ("@pattern", "%" + key));

    private async Task<long?> InboxStateAsync(string messageId)
        => await ScalarAsync<long?>($"SELECT state FROM {Table("idem_inbox")} WHERE consumer = @consumer AND message_id = @id", ("@consumer", Consumer), ("@id", messageId));

    // Committed rows only: a connection of its own.
    private async Task<T> ScalarAsync<T>(string sql, params (string Name, object Value)[] parameters)
    {
        await using var scope = Services.CreateAsyncScope();
        var connection = scope.ServiceProvider.GetRequiredService<ShopDb>().Database.GetDbConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.Add(Parameter(name, value));
        }

        var result = await command.ExecuteScalarAsync();
        return result is null or DBNull ? default! : (T)Convert.ChangeType(result, Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T), System.Globalization.CultureInfo.InvariantCulture);
    }

    private sealed record PlaceOrder(Guid Id, string Item);

    /// <summary>Writes the order a message names, through a context joined to the delivery's transaction.</summary>
    private sealed class OrderReceivedHandler : IMessageHandler
    {
        public const string Item = "received";

        public const string Fail = "fail:";

        public async ValueTask HandleAsync(MessageContext context, CancellationToken cancellationToken)
        {
            var body = Encoding.UTF8.GetString(context.Message.Body.Span);
            var id = Guid.Parse(body.Replace(Fail, "", StringComparison.Ordinal));
            var db = context.GetDbContext<ShopDb>();

            // A message of its own, through the same context: it commits with the order and the inbox record.
            await context.Services.GetRequiredService<IOutbox>().EnqueueAsync(db, new Message("order.recorded", Encoding.UTF8.GetBytes(body)) { Id = RecordedId(id) }, cancellationToken);
            db.Orders.Add(new Order { Id = id, Item = Item });
            await db.SaveChangesAsync(cancellationToken);
            if (body.StartsWith(Fail, StringComparison.Ordinal))
            {
                throw new InvalidOperationException("the handler fails after SaveChanges wrote the order");
            }
        }
    }
}
