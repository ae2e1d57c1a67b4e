using Idem.AspNetCore.Tests.Infrastructure;
using Idem.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Idem.AspNetCore.Tests.Sqlite;

/// <summary>
/// Recovery points over real HTTP: a handler in atomic phases (write, commit a point, call outside, write the outcome)
/// whose outside call fails, whose process throws, or whose lease is taken over. Phase one's row is the effect that must
/// happen once; phase three's row is the outcome.
/// </summary>
public sealed class RecoveryPointTests : IDisposable
{
    private const string Body = """{"amount":10}""";
    private static readonly string StoreKeyOfK1 = StoreKey.Create("anonymous", "POST", "/payments", "k-1");

    private readonly TempDatabase _db = new();
    private readonly CallCounter _phaseOnes = new();
    private readonly CallCounter _outsideCalls = new();

    // What the outside call does on each attempt (1-based); tests replace it.
    private Func<int, Task<bool>> _outside = _ => Task.FromResult(true);

    public sealed record Payment(int Amount);

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Transactional_OutsideCallFails_503KeepsPhaseOneAndRetryResumesWithoutRedoingIt()
    {
        _outside = attempt => Task.FromResult(attempt > 1);
        await using var sut = await CreateSut(transactional: true);

        var failed = await sut.Client.PostAsync("/payments", "k-1", Body);
        var parked = await sut.Store.GetAsync(StoreKeyOfK1);
        var rowsAfterFailure = _db.Rows;
        var resumed = await sut.Client.PostAsync("/payments", "k-1", Body);
        var replay = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(503, failed.Status);
        Assert.NotNull(parked);
        Assert.Equal(IdempotencyRecordState.InProgress, parked.State);
        Assert.Equal("created", parked.RecoveryPoint);
        Assert.Equal(1, rowsAfterFailure);
        Assert.Equal(201, resumed.Status);
        Assert.False(resumed.IsReplayed);
        Assert.Equal("resumed-from:created", resumed.Header("X-Phase"));
        Assert.True(replay.IsReplayed);
        Assert.Equal(resumed.Body, replay.Body);
        Assert.Equal(1, _phaseOnes.Count);
        Assert.Equal(2, _outsideCalls.Count);
        Assert.Equal(2, _db.Rows); // phase one's row once, phase three's once
        Assert.Equal(IdempotencyRecordState.Completed, (await sut.Store.GetAsync(StoreKeyOfK1))!.State);
    }

    [Fact]
    public async Task Transactional_HandlerThrowsInLastPhase_RollsBackOnlyThatPhaseAndRetryResumes()
    {
        var thrown = false;
        _outside = _ =>
        {
            if (!thrown)
            {
                thrown = true;
                throw new InvalidOperationException("the process fell over between phases");
            }

            return Task.FromResult(true);
        };
        await using var sut = await CreateSut(transactional: true);

        var failed = await sut.Client.PostAsync("/payments", "k-1", Body);
        var resumed = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(500, failed.Status);
        Assert.Equal(201, resumed.Status);
        Assert.Equal(1, _phaseOnes.Count);
        Assert.Equal(2, _db.Rows);
    }

    [Fact]
    public async Task Transactional_DuplicateWhileOutsideCallRuns_Is409AtOnceNotBlocked()
    {
        var (outsideStarted, finishOutside) = HoldFirstOutsideCall();
        await using var sut = await CreateSut(transactional: true);

        var first = sut.Client.PostAsync("/payments", "k-1", Body);
        await outsideStarted.WaitAsync();

        // Phase one committed: nothing is locked while the outside call runs, so the duplicate gets its answer at once,
        // and other keys write freely.
        var duplicate = await sut.Client.PostAsync("/payments", "k-1", Body);
        var other = await sut.Client.PostAsync("/payments", "k-2", Body);
        finishOutside.Set();
        var done = await first;

        Assert.Equal(409, duplicate.Status);
        Assert.Equal(201, other.Status);
        Assert.Equal(201, done.Status);
        Assert.Equal(2, _phaseOnes.Count);
    }

    [Fact]
    public async Task Transactional_OutsideCallLongerThanTheLease_KeepsTheKeyAndADuplicateGets409()
    {
        var (firstOutside, releaseFirst) = HoldFirstOutsideCall();
        await using var sut = await CreateSut(transactional: true, lease: TimeSpan.FromSeconds(2));

        var first = sut.Client.PostAsync("/payments", "k-1", Body);
        await firstOutside.WaitAsync();
        await Task.Delay(TimeSpan.FromMilliseconds(2600)); // longer than the lease: only renewals (every ~0.7 s) keep the key held
        var duplicate = await sut.Client.PostAsync("/payments", "k-1", Body);
        releaseFirst.Set();
        var done = await first;
        var replay = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(409, duplicate.Status);
        Assert.Equal(IdempotencyProblemTypes.RequestInProgress, duplicate.Problem().Type);
        Assert.Equal(201, done.Status);
        Assert.Equal("first-run", done.Header("X-Phase"));
        Assert.True(replay.IsReplayed);
        Assert.Equal(done.Body, replay.Body);
        Assert.Equal(1, _phaseOnes.Count);
        Assert.Equal(1, _outsideCalls.Count);
        Assert.Equal(2, _db.Rows);
    }

    [Fact]
    public async Task Transactional_LeaseTakenOverBetweenPhases_FirstGets409AndOnlyTheTakeoverFinishes()
    {
        var (firstOutside, releaseFirst) = HoldFirstOutsideCall();

        // The node cannot renew (it has lost its way to the store), so the first request's lease runs out while it waits
        // outside, and the retry takes the key over.
        await using var sut = await CreateSut(transactional: true, lease: TimeSpan.FromSeconds(1), failRenewals: true);

        var first = sut.Client.PostAsync("/payments", "k-1", Body);
        await firstOutside.WaitAsync();
        await Task.Delay(TimeSpan.FromMilliseconds(1300));
        var takeover = await sut.Client.PostAsync("/payments", "k-1", Body);
        releaseFirst.Set();
        var late = await first;
        var replay = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(201, takeover.Status);
        Assert.Equal("resumed-from:created", takeover.Header("X-Phase"));
        Assert.Equal(409, late.Status);
        Assert.Equal(IdempotencyProblemTypes.RequestInProgress, late.Problem().Type);
        Assert.True(replay.IsReplayed);
        Assert.Equal(takeover.Body, replay.Body);
        Assert.Equal(1, _phaseOnes.Count);
        Assert.Equal(2, _db.Rows); // the late request's last phase wrote nothing
    }

    [Fact]
    public async Task Standalone_ServerErrorAfterPoint_ParksKeyEvenWhenServerErrorsAreStored()
    {
        _outside = attempt => Task.FromResult(attempt > 1);
        await using var sut = await CreateSut(transactional: false, storeServerErrors: true);

        var failed = await sut.Client.PostAsync("/payments", "k-1", Body);
        var resumed = await sut.Client.PostAsync("/payments", "k-1", Body);
        var replay = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(503, failed.Status);
        Assert.Equal(201, resumed.Status);
        Assert.Equal("resumed-from:created", resumed.Header("X-Phase"));
        Assert.True(replay.IsReplayed);
        Assert.Equal(1, _phaseOnes.Count);
    }

    [Fact]
    public async Task Standalone_ServerErrorBeforeAnyPoint_IsStoredWhenServerErrorsAreStored()
    {
        // The control for the test above: without a recovery point the policy decides, and a stored 503 replays.
        await using var sut = await TestApp.StartAsync(
            app => app.MapPost("/payments", () => Results.StatusCode(503)).RequireIdempotency(p => p.StoreServerErrors()),
            store: b => b.AddSqliteStore(_db.ConnectionString));

        var first = await sut.Client.PostAsync("/payments", "k-1", Body);
        var second = await sut.Client.PostAsync("/payments", "k-1", Body);

        Assert.Equal(503, first.Status);
        Assert.True(second.IsReplayed);
    }

    /// <summary>The first outside call signals that it started, then waits for the test to let it go; later ones succeed.</summary>
    private (Signal Started, Signal Release) HoldFirstOutsideCall()
    {
        var started = new Signal();
        var release = new Signal();
        _outside = async attempt =>
        {
            if (attempt == 1)
            {
                started.Set();
                await release.WaitAsync();
            }

            return true;
        };
        return (started, release);
    }

    private Task<TestApp> CreateSut(bool transactional, TimeSpan? lease = null, bool storeServerErrors = false, bool failRenewals = false)
        => TestApp.StartAsync(
            app => app.MapPost("/payments", async (Payment payment, IIdempotencyContext idem, IServiceProvider services) =>
            {
                var resumedFrom = idem.RecoveryPoint;
                if (resumedFrom is null)
                {
                    _phaseOnes.Increment();
                    await InsertAsync(services, transactional, payment.Amount);
                    await idem.CommitPhaseAsync("created");
                }

                if (!await _outside(_outsideCalls.Increment()))
                {
                    return Results.Problem(statusCode: 503, title: "Outcome being settled");
                }

                await idem.BeginPhaseAsync();
                await InsertAsync(services, transactional, -payment.Amount);
                return Results.Json(new { phase = resumedFrom ?? "first-run" }, statusCode: 201).WithHeader("X-Phase", resumedFrom is null ? "first-run" : "resumed-from:" + resumedFrom);
            }).RequireIdempotency(p =>
            {
                p.ReplayHeaders("X-Phase");
                if (transactional)
                {
                    p.Transactional();
                }

                if (storeServerErrors)
                {
                    p.StoreServerErrors();
                }

                if (lease is { } duration)
                {
                    p.Lease(duration);
                }
            }),
            store: b => b.AddSqliteStore(_db.ConnectionString),
            services: failRenewals
                ? s =>
                {
                    s.RemoveAll<IIdempotencyStore>();
                    s.AddSingleton<IIdempotencyStore>(sp => new CommitObservingStore(sp.GetRequiredService<ITransactionalIdempotencyStore>()) { FailRenewals = true });
                }
                : null);

    private async Task InsertAsync(IServiceProvider services, bool transactional, int amount)
    {
        if (transactional)
        {
            var tx = services.GetRequiredService<IIdempotencyTransaction>();
            using var command = tx.Connection.CreateCommand();
            command.Transaction = tx.Transaction;
            command.CommandText = "INSERT INTO transfers (amount) VALUES ($amount);";
            command.Parameters.Add(new SqliteParameter("$amount", amount));
            await command.ExecuteNonQueryAsync();
            return;
        }

        _db.Execute($"INSERT INTO transfers (amount) VALUES ({amount});");
    }
}

file static class ResultExtensions
{
    public static IResult WithHeader(this IResult result, string name, string value) => new HeaderResult(result, name, value);

    private sealed class HeaderResult(IResult inner, string name, string value) : IResult
    {
        public Task ExecuteAsync(HttpContext httpContext)
        {
            httpContext.Response.Headers[name] = value;
            return inner.ExecuteAsync(httpContext);
        }
    }
}
