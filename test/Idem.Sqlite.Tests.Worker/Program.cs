using Idem.Sqlite;
using Idem.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

// Usage: Idem.Sqlite.Tests.Worker <database file> <worker id> <key count> <standalone|transactional>
//
// Prints "ready", waits for a line on stdin (the start signal, so every worker starts at once and the first calls also
// race to create the schema), then works through keys k0..kN-1 in an order of its own. For each key it either wins the claim, records
// one row in `runs` (the operation's effect) and completes with its id as the body, or sees the winner's response. It
// prints "claimed <key>" or "saw <key> <winner id>" per key, then "done".
if (args.Length != 4)
{
    Console.Error.WriteLine("usage: <database file> <worker id> <key count> <standalone|transactional>");
    return 2;
}

var database = args[0];
var workerId = args[1];
var keyCount = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);
var transactional = args[3] == "transactional";
var connectionString = $"Data Source={database}";

using var store = new SqliteIdempotencyStore(new SqliteStoreOptions { ConnectionString = connectionString }, TimeProvider.System, NullLogger<SqliteIdempotencyStore>.Instance);

Console.WriteLine("ready");
Console.Out.Flush();
if (Console.ReadLine() is null)
{
    return 3;
}

// Each worker visits the keys in its own order, so the processes keep meeting on keys no one has claimed yet instead of
// the fastest one winning every key while the others trail behind it.
var order = Enumerable.Range(0, keyCount).ToArray();
new Random(workerId.Aggregate(17, (hash, c) => (hash * 31) + c)).Shuffle(order);
foreach (var k in order)
{
    var request = new ClaimRequest($"k{k}", "same-request", TimeSpan.FromMinutes(1), TimeSpan.FromHours(1));
    var response = new IdempotencyResponse(200, [new("Content-Type", "text/plain")], System.Text.Encoding.UTF8.GetBytes(workerId));
    while (true)
    {
        ClaimResult result;
        if (transactional)
        {
            await using var claim = await store.BeginTransactionalAsync(request);
            result = claim.Result;
            if (result.Outcome == ClaimOutcome.Claimed)
            {
                using (var command = (SqliteCommand)claim.Transaction!.Connection.CreateCommand())
                {
                    command.Transaction = (SqliteTransaction)claim.Transaction.Transaction;
                    command.CommandText = "INSERT INTO runs (key, worker) VALUES (@key, @worker)";
                    command.Parameters.AddWithValue("@key", request.StoreKey);
                    command.Parameters.AddWithValue("@worker", workerId);
                    await command.ExecuteNonQueryAsync();
                }

                await claim.CommitAsync(response);
            }
        }
        else
        {
            result = await store.TryClaimAsync(request);
            if (result.Outcome == ClaimOutcome.Claimed)
            {
                // The operation takes a moment outside the store, as a real one does; the write lock is free meanwhile, so a
                // process sleeping in SQLite's busy handler finds it free when it wakes instead of starving behind this one.
                await Task.Delay(1);
                await using (var connection = new SqliteConnection(connectionString))
                {
                    await connection.OpenAsync();
                    using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA busy_timeout = 30000; INSERT INTO runs (key, worker) VALUES (@key, @worker)";
                    command.Parameters.AddWithValue("@key", request.StoreKey);
                    command.Parameters.AddWithValue("@worker", workerId);
                    await command.ExecuteNonQueryAsync();
                }

                if (await store.CompleteAsync(result.Lease!, response) != LeaseStatus.Ok)
                {
                    Console.Error.WriteLine($"lost the lease on {request.StoreKey}");
                    return 4;
                }
            }
        }

        if (result.Outcome == ClaimOutcome.Claimed)
        {
            Console.WriteLine($"claimed {request.StoreKey}");
            break;
        }

        if (result.Outcome == ClaimOutcome.Completed)
        {
            Console.WriteLine($"saw {request.StoreKey} {System.Text.Encoding.UTF8.GetString(result.Response!.Body.Span)}");
            break;
        }

        if (result.Outcome == ClaimOutcome.Mismatch)
        {
            Console.Error.WriteLine($"mismatch on {request.StoreKey}");
            return 5;
        }

        // In progress: the winner is between its claim and its completion.
        await Task.Delay(1);
    }
}

Console.WriteLine("done");
return 0;
