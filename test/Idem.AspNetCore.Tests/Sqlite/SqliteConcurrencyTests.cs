using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.AspNetCore.Tests.Sqlite;

/// <summary>Many identical requests at once on the SQLite store: the handler runs exactly once, standalone and transactional.</summary>
public sealed class SqliteConcurrencyTests : IDisposable
{
    private const int Requests = 50;
    private const int Rounds = 3;

    private readonly TempDatabase _db = new();
    private readonly CallCounter _calls = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Post_ParallelIdenticalRequestsStandalone_RunHandlerExactlyOncePerKey()
    {
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/transfers", async () =>
            {
                var call = _calls.Increment();
                await Task.Yield();
                return Results.Created($"/transfers/{call}", new { call, id = Guid.NewGuid() });
            }).RequireIdempotency(),
            store: b => b.AddSqliteStore(_db.ConnectionString));

        for (var round = 1; round <= Rounds; round++)
        {
            var key = $"burst-{round}";
            var replies = await ParallelBurst.SendAsync(Requests, () => sut.Client.PostAsync("/transfers", key, """{"amount":10}"""));

            ParallelBurst.AssertExactlyOnce(replies);
            Assert.Equal(round, _calls.Count);
        }

        Assert.Equal(Rounds, _db.Keys);
    }

    [Fact]
    public async Task Post_ParallelIdenticalRequestsTransactional_WriteExactlyOneRowPerKey()
    {
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/transfers", async (IIdempotencyTransaction tx) =>
            {
                var call = _calls.Increment();
                using var command = tx.Connection.CreateCommand();
                command.Transaction = tx.Transaction;
                command.CommandText = "INSERT INTO transfers (amount, call) VALUES (10, $call) RETURNING id;";
                command.Parameters.Add(new SqliteParameter("$call", call));
                var id = (long)(await command.ExecuteScalarAsync())!;
                return Results.Created($"/transfers/{id}", new { id, call });
            }).RequireIdempotency(p => p.Transactional()),
            store: b => b.AddSqliteStore(_db.ConnectionString));

        for (var round = 1; round <= Rounds; round++)
        {
            var key = $"burst-{round}";
            var replies = await ParallelBurst.SendAsync(Requests, () => sut.Client.PostAsync("/transfers", key, """{"amount":10}"""));

            // Duplicates wait on the claim transaction and then see the committed record: no 409 in transactional mode.
            Assert.Equal(Requests - 1, ParallelBurst.AssertExactlyOnce(replies, allowConflicts: false));
            Assert.Equal(round, _calls.Count);
            Assert.Equal(round, _db.Rows);
        }
    }
}
