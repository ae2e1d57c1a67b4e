// A consumer process for tests that kill it at a chosen point.
//
//   dotnet Idem.Messaging.TestConsumer.dll --db <sqlite file> --uri <amqp uri> --exchange <name> --prefix <queue prefix> [--block-after-commit]
//
// Consumer "ledger" writes one row per message into `effects` through the inbox's transaction. After each commit, and
// before the transport acknowledges, it prints "COMMITTED <id>"; with --block-after-commit it then blocks forever, so the
// test can SIGKILL it with the effect committed and the delivery unacknowledged. A skipped redelivery prints
// "SKIPPED <id>". "READY" once started; a line "stop" on stdin stops it gracefully.
using Idem.Messaging;
using Idem.Messaging.Inbox;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

var db = Argument("--db");
var block = args.Contains("--block-after-commit");
var connectionString = new SqliteConnectionStringBuilder { DataSource = db, DefaultTimeout = 60 }.ToString();
using (var connection = new SqliteConnection(connectionString))
{
    connection.Open();
    using var command = connection.CreateCommand();
    command.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS effects (message_id TEXT NOT NULL, pid INTEGER NOT NULL);";
    command.ExecuteNonQuery();
}

var builder = Host.CreateApplicationBuilder();
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole().SetMinimumLevel(LogLevel.Warning);
builder.Logging.AddFilter("Microsoft", LogLevel.Error);
var dataSource = SqliteFactory.Instance.CreateDataSource(connectionString);
builder.Services.AddSingleton<IMessagingObserver>(new ConsoleObserver(block));
builder.Services.AddIdempotentMessaging()
    .UseSqlite(dataSource)
    .AddConsumer("ledger", async (context, cancellationToken) =>
    {
        await using var command = context.Connection.CreateCommand();
        command.Transaction = context.Transaction;
        command.CommandText = "INSERT INTO effects (message_id, pid) VALUES ($id, $pid)";
        command.Parameters.Add(new SqliteParameter("$id", context.Message.Id));
        command.Parameters.Add(new SqliteParameter("$pid", Environment.ProcessId));
        await command.ExecuteNonQueryAsync(cancellationToken);
    })
    .UseRabbitMq(new Uri(Argument("--uri")), o =>
    {
        o.Exchange = Argument("--exchange");
        o.QueuePrefix = Argument("--prefix");
        o.ReconnectDelay = TimeSpan.FromMilliseconds(500);
    });

using var host = builder.Build();
await host.StartAsync();
Console.Out.WriteLine("READY");
Console.Out.Flush();
_ = Task.Run(() =>
{
    while (Console.In.ReadLine() is { } line)
    {
        if (line == "stop")
        {
            break;
        }
    }

    host.Services.GetRequiredService<IHostApplicationLifetime>().StopApplication();
});
await host.WaitForShutdownAsync();
await dataSource.DisposeAsync();

string Argument(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : throw new ArgumentException($"{name} is required.");
}

internal sealed class ConsoleObserver(bool block) : IMessagingObserver
{
    public void Committed(string consumer, Message message)
    {
        Console.Out.WriteLine($"COMMITTED {message.Id}");
        Console.Out.Flush();
        if (block)
        {
            // Committed, not acknowledged: the test kills the process here.
            Thread.Sleep(Timeout.Infinite);
        }
    }

    public void Skipped(string consumer, Message message)
    {
        Console.Out.WriteLine($"SKIPPED {message.Id}");
        Console.Out.Flush();
    }
}
