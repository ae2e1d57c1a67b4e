// A small web app with the SQLite store in transactional mode, for tests that kill a real process mid-request.
//
//   dotnet Idem.TestHost.dll --db <path> [--port <n>] [--block]
//
// Prints "IDEM-TESTHOST listening <url>" once it serves requests. POST /transfers (transactional, key required) inserts
// a row into `transfers` inside the claim's transaction; with --block it then prints "IDEM-TESTHOST blocked <key>" and
// waits forever, so the test can kill the process while the transaction is open.
using System.Globalization;
using Idem.Storage;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Data.Sqlite;

var db = Argument("--db") ?? throw new ArgumentException("--db <path> is required.");
var port = int.Parse(Argument("--port") ?? "0", CultureInfo.InvariantCulture);
var block = args.Contains("--block");
var connectionString = new SqliteConnectionStringBuilder { DataSource = db }.ToString();

using (var connection = new SqliteConnection(connectionString))
{
    connection.Open();
    using var command = connection.CreateCommand();
    command.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS transfers (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL);";
    command.ExecuteNonQuery();
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel().UseUrls(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{port}"));
builder.Services.AddIdempotency().AddSqliteStore(connectionString);

var app = builder.Build();
app.UseIdempotency();
app.MapPost("/transfers", async (Transfer transfer, IIdempotencyTransaction tx, HttpContext context) =>
{
    long id;
    using (var command = tx.Connection.CreateCommand())
    {
        command.Transaction = tx.Transaction;
        command.CommandText = "INSERT INTO transfers (amount) VALUES ($amount) RETURNING id;";
        command.Parameters.Add(new SqliteParameter("$amount", transfer.Amount));
        id = (long)(await command.ExecuteScalarAsync())!;
    }

    if (block)
    {
        Console.Out.WriteLine($"IDEM-TESTHOST blocked {context.Request.Headers["Idempotency-Key"]}");
        Console.Out.Flush();
        await Task.Delay(Timeout.Infinite, CancellationToken.None);
    }

    return Results.Created($"/transfers/{id}", new { id, transfer.Amount });
}).RequireIdempotency(p => p.Transactional());

await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
Console.Out.WriteLine($"IDEM-TESTHOST listening {address}");
Console.Out.Flush();
await app.WaitForShutdownAsync();

string? Argument(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}

internal sealed record Transfer(int Amount);
