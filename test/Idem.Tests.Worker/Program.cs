using Idem;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

// Usage: Idem.Tests.Worker <sqlite|postgres|postgres-batched|redis|redis-batched> <connection> <namespace> <key>
//
// A holder that the test kills: runs the operation "orders.charge" under <key> through the executor, with the default
// options (so the default lease), on the named store. The operation writes its effect, records the recovery point
// "charged", prints "blocked" and waits forever; the test SIGKILLs it there. The namespace is where the store and the
// effect live: ignored for SQLite (the file is the test's own), the schema for PostgreSQL, the key prefix for Redis.
// The effect is a row in the table `charges` (SQL stores; the test creates it) or the Redis counter <prefix>effects.
// postgres-batched and redis-batched are those stores with batched claims and completions (Idempotency:Batching:Enabled).
if (args.Length != 4)
{
    Console.Error.WriteLine("usage: <sqlite|postgres|postgres-batched|redis|redis-batched> <connection> <namespace> <key>");
    return 2;
}

var (store, connection, ns, key) = (args[0], args[1], args[2], args[3]);
var services = new ServiceCollection();

var idempotency = services.AddIdempotentExecutor(o => o.Batching.Enabled = store is "postgres-batched" or "redis-batched");
Func<CancellationToken, Task> effect;
switch (store)
{
    case "sqlite":
        idempotency.AddSqliteStore(connection);
        effect = async ct =>
        {
            await using var db = new SqliteConnection(connection);
            await db.OpenAsync(ct);
            await using var command = db.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 30000; INSERT INTO charges (key) VALUES ($key)";
            command.Parameters.AddWithValue("$key", key);
            await command.ExecuteNonQueryAsync(ct);
        };
        break;
    case "postgres" or "postgres-batched":
        idempotency.AddPostgresStore(connection, o => o.Schema = ns);
        effect = async ct =>
        {
            await using var db = new NpgsqlConnection(connection);
            await db.OpenAsync(ct);
            await using var command = new NpgsqlCommand($"INSERT INTO \"{ns}\".charges (key) VALUES ($1)", db);
            command.Parameters.Add(new NpgsqlParameter { Value = key });
            await command.ExecuteNonQueryAsync(ct);
        };
        break;
    case "redis" or "redis-batched":
        idempotency.AddRedisStore(connection, o => o.KeyPrefix = ns);
        var redis = await ConnectionMultiplexer.ConnectAsync(connection);
        effect = async _ => await redis.GetDatabase().StringIncrementAsync(ns + "effects");
        break;
    default:
        Console.Error.WriteLine($"unknown store {store}");
        return 2;
}

await using var provider = services.BuildServiceProvider();
var executor = provider.GetRequiredService<IIdempotentExecutor>();
var result = await executor.RunAsync(IdempotentOperation.Create("orders.charge", key), async (context, ct) =>
{
    if (context.RecoveryPoint is not null)
    {
        throw new InvalidOperationException($"The key was fresh, yet the operation starts at {context.RecoveryPoint}.");
    }

    await effect(ct);
    await context.CommitPhaseAsync("charged", ct);
    Console.WriteLine("blocked");
    await Task.Delay(Timeout.Infinite, ct);
    return "unreachable";
});

// Only a holder that never got the key ends up here.
Console.Error.WriteLine($"the operation did not run: {result.Outcome}");
return 3;
