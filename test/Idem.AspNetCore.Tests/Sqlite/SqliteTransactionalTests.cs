using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Idem.AspNetCore.Tests.Sqlite;

/// <summary>BEHAVIOUR §7 on the SQLite store: claim, the handler's writes and the response commit together or not at all.</summary>
public sealed class SqliteTransactionalTests : IDisposable
{
    private static readonly string StoreKeyOfK1 = StoreKey.Create("anonymous", "POST", "/transfers", "k-1");

    private readonly TempDatabase _db = new();
    private readonly CallCounter _calls = new();

    // What the handler answers after writing its row; tests replace it.
    private Func<int, long, IResult> _respond = (call, id) => Results.Created($"/transfers/{id}", new { id, call });

    public sealed record Transfer(int Amount);

    public void Dispose() => _db.Dispose();

    private Task<TestApp> CreateSut(Action<IdempotencyPolicyBuilder>? policy = null, Action<IServiceCollection>? services = null)
        => TestApp.StartAsync(
            app => app.MapPost("/transfers", async (Transfer transfer, IIdempotencyTransaction tx) =>
            {
                var call = _calls.Increment();
                using var command = tx.Connection.CreateCommand();
                command.Transaction = tx.Transaction;
                command.CommandText = "INSERT INTO transfers (amount, call) VALUES ($amount, $call) RETURNING id;";
                command.Parameters.Add(new SqliteParameter("$amount", transfer.Amount));
                command.Parameters.Add(new SqliteParameter("$call", call));
                var id = (long)(await command.ExecuteScalarAsync())!;
                return _respond(call, id);
            }).RequireIdempotency(p =>
            {
                p.Transactional();
                policy?.Invoke(p);
            }),
            services: services,
            store: b => b.AddSqliteStore(_db.ConnectionString));

    [Fact]
    public async Task Post_TransactionalSuccess_CommitsRowAndRecordTogether()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var record = await sut.Store.GetAsync(StoreKeyOfK1);
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(201, first.Status);
        Assert.Equal("/transfers/1", first.Header("Location"));
        Assert.Equal(1, _db.Rows);
        Assert.NotNull(record);
        Assert.Equal(IdempotencyRecordState.Completed, record.State);
        Assert.Equal(201, record.Response!.StatusCode);
        Assert.Equal(first.Body, record.Response.Body.ToArray());
        Assert.Equal(201, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal("/transfers/1", retry.Header("Location"));
        Assert.Equal(1, _db.Rows);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_TransactionalFirstResponse_IsFramedWithContentLengthLikeItsReplay()
    {
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var replay = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(first.Body.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), first.Header("Content-Length"));
        Assert.Null(first.Header("Transfer-Encoding"));
        Assert.Equal(first.Header("Content-Length"), replay.Header("Content-Length"));
    }

    [Fact]
    public async Task Post_TransactionalHandlerWritesThenThrows_LeavesNoRowAndNoKey()
    {
        _respond = (call, id) => call == 1 ? throw new InvalidOperationException("after the write") : Results.Created($"/transfers/{id}", new { id, call });
        await using var sut = await CreateSut();

        var failed = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var rowsAfterFailure = _db.Rows;
        var keysAfterFailure = _db.Keys;
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var replay = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(500, failed.Status);
        Assert.Equal(0, rowsAfterFailure);
        Assert.Equal(0, keysAfterFailure);
        Assert.Equal(201, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.True(replay.IsReplayed);
        Assert.Equal(retry.Body, replay.Body);
        Assert.Equal(1, _db.Rows);
        Assert.Equal(2, _db.Scalar("SELECT call FROM transfers"));
        Assert.Equal(2, _calls.Count);
    }

    [Fact]
    public async Task Post_Transactional5xx_RollsBackItsWrites()
    {
        _respond = (call, id) => call == 1 ? Results.Json(new { error = "ledger unavailable" }, statusCode: 503) : Results.Created($"/transfers/{id}", new { id, call });
        await using var sut = await CreateSut();

        var failed = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var rowsAfterFailure = _db.Rows;
        var recordAfterFailure = await sut.Store.GetAsync(StoreKeyOfK1);
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(503, failed.Status);
        Assert.Equal("""{"error":"ledger unavailable"}""", failed.Text);
        Assert.Equal(0, rowsAfterFailure);
        Assert.Null(recordAfterFailure);
        Assert.Equal(201, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal(1, _db.Rows);
    }

    [Fact]
    public async Task Post_TransactionalStoreServerErrors_StillRollsBack()
    {
        // StoreServerErrors is for standalone mode; in a transaction the 5xx's writes are undone, so nothing may say they happened.
        _respond = (call, _) => call == 1 ? Results.StatusCode(500) : Results.Ok(new { call });
        await using var sut = await CreateSut(p => p.StoreServerErrors());

        await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(200, retry.Status);
        Assert.False(retry.IsReplayed);
        Assert.Equal(1, _db.Rows);
    }

    [Fact]
    public async Task Post_Transactional402_CommitsItsWritesAndReplays()
    {
        _respond = (call, id) => Results.Json(new { declined = true, id }, statusCode: 402);
        await using var sut = await CreateSut();

        var first = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(402, first.Status);
        Assert.Equal(402, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal(first.Body, retry.Body);
        Assert.Equal(1, _db.Rows);
    }

    [Fact]
    public async Task Post_TransactionalBindingRejected_StoresNothing()
    {
        await using var sut = await CreateSut();

        var rejected = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":""");
        var fixedRetry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(400, rejected.Status);
        Assert.Equal(201, fixedRetry.Status);
        Assert.False(fixedRetry.IsReplayed);
        Assert.Equal(1, _db.Rows);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_TransactionalSameKeyDifferentBody_Returns422AndWritesNothing()
    {
        await using var sut = await CreateSut();

        await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var mismatch = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":11}""");

        Assert.Equal(422, mismatch.Status);
        Assert.Equal(IdempotencyProblemTypes.KeyMismatch, mismatch.Problem().Type);
        Assert.Equal(1, _db.Rows);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_Transactional_ResponseIsSentOnlyAfterCommit()
    {
        CommitObservingStore? observer = null;
        await using var sut = await CreateSut(services: s =>
        {
            s.AddHttpContextAccessor();
            s.RemoveAll<IIdempotencyStore>();
            s.AddSingleton<IIdempotencyStore>(sp => observer = new CommitObservingStore(
                sp.GetRequiredService<ITransactionalIdempotencyStore>(),
                sp.GetRequiredService<IHttpContextAccessor>(),
                () => _db.Rows));
        });

        var reply = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var rowsWhenReceived = _db.Rows;
        var keysWhenReceived = _db.Scalar($"SELECT COUNT(*) FROM {TempDatabase.KeyTable} WHERE state = 1");

        Assert.Equal(201, reply.Status);
        var commit = Assert.Single(observer!.Commits);
        Assert.False(commit.ResponseStarted);
        // Another connection could not see the row before the commit...
        Assert.Equal(0L, commit.Probe);
        // ...and saw it, with the completed record, as soon as the client had its answer.
        Assert.Equal(1, rowsWhenReceived);
        Assert.Equal(1, keysWhenReceived);
    }

    [Fact]
    public async Task Post_TransactionalDuplicateWhileFirstRuns_WaitsAndReplays()
    {
        var started = new Signal();
        var release = new Signal();
        _respond = (call, id) => Results.Created($"/transfers/{id}", new { id, call });
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/slow", async (IIdempotencyTransaction tx) =>
            {
                var call = _calls.Increment();
                using (var command = tx.Connection.CreateCommand())
                {
                    command.Transaction = tx.Transaction;
                    command.CommandText = "INSERT INTO transfers (amount, call) VALUES (1, $call);";
                    command.Parameters.Add(new SqliteParameter("$call", call));
                    await command.ExecuteNonQueryAsync();
                }

                started.Set();
                await release.WaitAsync();
                return Results.Ok(new { call });
            }).RequireIdempotency(p => p.Transactional()),
            store: b => b.AddSqliteStore(_db.ConnectionString));

        var first = sut.Client.PostAsync("/slow", "k-1");
        await started.WaitAsync();
        var duplicate = sut.Client.PostAsync("/slow", "k-1");
        release.Set();
        var firstReply = await first;
        var duplicateReply = await duplicate;

        Assert.Equal(200, firstReply.Status);
        Assert.Equal(200, duplicateReply.Status);
        Assert.True(duplicateReply.IsReplayed);
        Assert.Equal(firstReply.Body, duplicateReply.Body);
        Assert.Equal(1, _db.Rows);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_TransactionalResponseOverCaptureLimit_ClientGetsAllAndReplayOmitsBody()
    {
        var large = new string('x', 5000);
        _respond = (call, id) => Results.Text(large, "text/plain");
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/transfers", async (Transfer transfer, IIdempotencyTransaction tx) =>
            {
                var call = _calls.Increment();
                using var command = tx.Connection.CreateCommand();
                command.Transaction = tx.Transaction;
                command.CommandText = "INSERT INTO transfers (amount, call) VALUES ($amount, $call);";
                command.Parameters.Add(new SqliteParameter("$amount", transfer.Amount));
                command.Parameters.Add(new SqliteParameter("$call", call));
                await command.ExecuteNonQueryAsync();
                return _respond(call, 0);
            }).RequireIdempotency(p => p.Transactional()),
            store: b => b.AddSqliteStore(_db.ConnectionString),
            http: o => o.MaxResponseBodyBytes = 1024);

        var first = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");
        var retry = await sut.Client.PostAsync("/transfers", "k-1", """{"amount":10}""");

        Assert.Equal(200, first.Status);
        Assert.Equal(large, first.Text);
        Assert.True(retry.IsReplayed);
        Assert.Equal("true", retry.Header("Idempotent-Body-Omitted"));
        Assert.Empty(retry.Body);
        Assert.Equal(1, _db.Rows);
    }

    [Fact]
    public async Task Post_TransactionalClientHangsUp_ResultIsStillCommittedAndReplayed()
    {
        var started = new Signal();
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/transfers", async (IIdempotencyTransaction tx, HttpContext context) =>
            {
                var call = _calls.Increment();
                started.Set();
                var aborted = new Signal();
                using (context.RequestAborted.Register(aborted.Set))
                {
                    await aborted.WaitAsync();
                }

                using var command = tx.Connection.CreateCommand();
                command.Transaction = tx.Transaction;
                command.CommandText = "INSERT INTO transfers (amount, call) VALUES (10, $call);";
                command.Parameters.Add(new SqliteParameter("$call", call));
                await command.ExecuteNonQueryAsync(CancellationToken.None);
                return Results.Ok(new { call });
            }).RequireIdempotency(p => p.Transactional().WaitForConcurrent(TimeSpan.FromSeconds(30))),
            store: b => b.AddSqliteStore(_db.ConnectionString));

        using (var hangUp = new CancellationTokenSource())
        {
            var request = sut.Client.SendAsync(HttpMethod.Post, "/transfers", "k-1", cancellationToken: hangUp.Token);
            await started.WaitAsync();
            await hangUp.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => request);
        }

        // The duplicate waits on the claim transaction, then sees what it committed.
        var retry = await sut.Client.PostAsync("/transfers", "k-1");

        Assert.Equal(200, retry.Status);
        Assert.True(retry.IsReplayed);
        Assert.Equal("""{"call":1}""", retry.Text);
        Assert.Equal(1, _db.Rows);
        Assert.Equal(1, _calls.Count);
    }

    [Fact]
    public async Task Post_TransactionalEndpointOnInMemoryStore_FailsLoudly()
    {
        await using var sut = await TestApp.StartAsync(app => app.MapPost("/transfers", () => Results.Ok()).RequireIdempotency(p => p.Transactional()));

        var reply = await sut.Client.PostAsync("/transfers", "k-1");

        Assert.Equal(500, reply.Status);
    }
}
