using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Samples.Tests;

/// <summary>
/// The worker sample in a process of its own, on a SQLite file and an exchange and queues of this test's own on the
/// RabbitMQ that IDEM_TEST_RABBITMQ names: events published to it as another service would. Without
/// IDEM_TEST_RABBITMQ the tests fail: ./test.sh provisions the broker.
/// </summary>
public sealed class InboxTests : IAsyncLifetime
{
    private readonly string _path = Path.Combine(Path.GetTempPath(), "idem-sample-receipts-" + Guid.NewGuid().ToString("N") + ".db");
    private readonly string _exchange = "idem-sample-" + Guid.NewGuid().ToString("N")[..12];
    private string Queue => _exchange + ".receipts";
    private Process? _worker;
    private IConnection? _rabbit;
    private IChannel? _channel;
    private readonly StringBuilder _output = new();

    private static Uri Broker
        => Environment.GetEnvironmentVariable("IDEM_TEST_RABBITMQ") is { Length: > 0 } value
            ? new Uri(value)
            : throw new InvalidOperationException("IDEM_TEST_RABBITMQ is not set. These tests need a real RabbitMQ: run ./test.sh, which provisions one.");

    private string ConnectionString => new SqliteConnectionStringBuilder { DataSource = _path }.ToString();

    public async Task InitializeAsync()
    {
        var start = SampleProcess.StartInfo(
            "Receipts.Worker",
            "--ConnectionStrings:Receipts=" + ConnectionString,
            "--RabbitMq:Uri=" + Broker,
            "--RabbitMq:Exchange=" + _exchange,
            "--RabbitMq:QueuePrefix=" + _exchange + ".");
        _worker = Process.Start(start)!;
        _worker.OutputDataReceived += (_, e) => Log(e.Data);
        _worker.ErrorDataReceived += (_, e) => Log(e.Data);
        _worker.BeginOutputReadLine();
        _worker.BeginErrorReadLine();

        _rabbit = await new ConnectionFactory { Uri = Broker }.CreateConnectionAsync();
        _channel = await _rabbit.CreateChannelAsync();

        // Ready once the worker consumes its queue: it declares the queue, binds it and its dead-letter queue, then
        // consumes (a queue merely declared may not be bound yet, and an event published then would be dropped).
        await EventuallyAsync(async () => await QueueAsync(Queue) is { ConsumerCount: > 0 }, "the worker consuming its queue");
    }

    public async Task DisposeAsync()
    {
        if (_worker is { HasExited: false })
        {
            _worker.Kill(entireProcessTree: true);
            await _worker.WaitForExitAsync();
        }

        _worker?.Dispose();
        if (_channel is not null)
        {
            await _channel.QueueDeleteAsync(Queue);
            await _channel.QueueDeleteAsync(Queue + ".dead-letter");
            await _channel.ExchangeDeleteAsync(_exchange);
            await _channel.DisposeAsync();
        }

        if (_rabbit is not null)
        {
            await _rabbit.DisposeAsync();
        }

        SqliteConnection.ClearAllPools();
        foreach (var suffix in new[] { "", "-wal", "-shm", "-journal" })
        {
            File.Delete(_path + suffix);
        }
    }

    [Fact]
    public async Task RedeliveredEvent_WritesOneReceipt()
    {
        var order = Guid.NewGuid().ToString("N");
        var next = Guid.NewGuid().ToString("N");
        await PublishAsync("order.placed:" + order, order, 1200);
        await PublishAsync("order.placed:" + order, order, 1200);   // the same event again, as after a lost acknowledgement
        await PublishAsync("order.placed:" + next, next, 300);

        // One consumer, one at a time, in order: once the next event's receipt is there, both copies were handled.
        await EventuallyAsync(async () => await ReceiptsAsync(next) == 1, "the next event's receipt");
        Assert.Equal(1, await ReceiptsAsync(order));
    }

    [Fact]
    public async Task HandlerThrowsAfterItsWrite_LeavesNoReceipt()
    {
        var order = Guid.NewGuid().ToString("N");
        await PublishAsync("order.placed:" + order, order, -1);     // the handler writes, then throws

        // Every attempt ran and was rolled back; after the last one the event is dead-lettered.
        await EventuallyAsync(async () => (await QueueAsync(Queue + ".dead-letter"))?.MessageCount == 1, "the event dead-lettered");
        Assert.Equal(0, await ReceiptsAsync(order));
    }

    private async Task PublishAsync(string id, string order, long amount)
    {
        var body = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { orderId = order, amount }));
        var properties = new BasicProperties { MessageId = id, Type = "order.placed", Persistent = true, ContentType = "application/json" };
        await _channel!.BasicPublishAsync(_exchange, "order.placed", mandatory: false, basicProperties: properties, body: body);
    }

    private async Task<QueueDeclareOk?> QueueAsync(string queue)
    {
        // A passive declare of a missing queue closes the channel: use one of its own.
        await using var channel = await _rabbit!.CreateChannelAsync();
        try
        {
            return await channel.QueueDeclarePassiveAsync(queue);
        }
        catch (OperationInterruptedException)
        {
            return null;
        }
    }

    private async Task<long> ReceiptsAsync(string order)
    {
        await using var connection = new SqliteConnection(ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM receipts WHERE order_id = $order";
        command.Parameters.AddWithValue("$order", order);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    private void Log(string? line)
    {
        lock (_output)
        {
            _output.AppendLine(line);
        }
    }

    private async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (_worker!.HasExited)
            {
                Assert.Fail($"The worker exited ({_worker.ExitCode}) before {what}:\n{Output}");
            }

            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}:\n{Output}");
            await Task.Delay(100);
        }
    }
}
