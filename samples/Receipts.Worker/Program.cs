using Idem.Messaging;
using Microsoft.Data.Sqlite;

var builder = Host.CreateApplicationBuilder(args);
var connectionString = builder.Configuration.GetConnectionString("Receipts") ?? "Data Source=receipts.db";
var dataSource = SqliteFactory.Instance.CreateDataSource(connectionString);

await using (var connection = await dataSource.OpenConnectionAsync())
await using (var create = connection.CreateCommand())
{
    // One row per order event handled: no unique constraint, so a duplicate could only be kept out by the inbox.
    create.CommandText = "CREATE TABLE IF NOT EXISTS receipts (id INTEGER PRIMARY KEY AUTOINCREMENT, order_id TEXT NOT NULL, amount INTEGER NOT NULL)";
    await create.ExecuteNonQueryAsync();
}

builder.Services.AddIdempotentMessaging()
    .UseSqlite(dataSource)                                     // the inbox lives in the same file as the receipts
    .AddConsumer<ReceiptHandler>("receipts", c => c.MessageTypes.Add("order.placed"))
    .UseRabbitMq(new Uri(builder.Configuration["RabbitMq:Uri"] ?? "amqp://guest:guest@localhost:5672/"), o =>
    {
        o.Exchange = builder.Configuration["RabbitMq:Exchange"] ?? "orders.events";
        o.QueuePrefix = builder.Configuration["RabbitMq:QueuePrefix"] ?? "receipts.";
    });

builder.Build().Run();
