// A gRPC server on SQLite, for tests that kill a real process mid-call.
//
//   dotnet Idem.Grpc.Tests.Host.dll --db <path> [--lease-ms <n>] [--block]
//
// Prints "IDEM-GRPC-HOST listening <url>" once it serves calls (HTTP/2 without TLS on 127.0.0.1). Create (standalone)
// records its effect in `effects` on a connection of its own; CreateTransactional records it through the claim's
// transaction. With --block each handler prints "IDEM-GRPC-HOST blocked <key>" and waits forever: Create before its
// effect, CreateTransactional after writing it (uncommitted), so the test can kill the process at that moment.
using System.Globalization;
using System.Net;
using Idem.Grpc.Tests.Host;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Data.Sqlite;

var db = Argument("--db") ?? throw new ArgumentException("--db <path> is required.");
var lease = TimeSpan.FromMilliseconds(int.Parse(Argument("--lease-ms") ?? "300000", CultureInfo.InvariantCulture));
var connectionString = new SqliteConnectionStringBuilder { DataSource = db, DefaultTimeout = 30 }.ToString();

using (var connection = new SqliteConnection(connectionString))
{
    connection.Open();
    using var command = connection.CreateCommand();
    command.CommandText = "PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY, key TEXT NOT NULL, process INTEGER NOT NULL);";
    command.ExecuteNonQuery();
}

var builder = WebApplication.CreateSlimBuilder();
builder.Logging.ClearProviders();
builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
builder.Services.AddSingleton(new HostSettings(connectionString, args.Contains("--block")));
builder.Services.AddIdempotency(o => o.LeaseDuration = lease).AddSqliteStore(connectionString);
builder.Services.AddGrpc().AddIdempotency();

var app = builder.Build();
app.MapGrpcService<OrdersService>();
await app.StartAsync();
var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
Console.Out.WriteLine($"IDEM-GRPC-HOST listening {address}");
Console.Out.Flush();
await app.WaitForShutdownAsync();

string? Argument(string name)
{
    var index = Array.IndexOf(args, name);
    return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
}
