using Idem.Check.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Check.Tests;

/// <summary>The kit against an app that keeps the contract, and against fixtures that each break one rule.</summary>
public sealed class CheckRunnerTests
{
    [Theory]
    [InlineData("memory")]
    [InlineData("sqlite")]
    [InlineData("postgres")]
    [InlineData("redis")]
    public async Task Run_IdemProtectedApp_EveryCheckPasses(string store)
    {
        var directory = Directory.CreateTempSubdirectory("idem-check-sqlite-").FullName;
        var name = "idem_check_" + Guid.NewGuid().ToString("N")[..12];
        try
        {
            Action<IIdempotencyBuilder>? addStore = store switch
            {
                "sqlite" => b => b.AddSqliteStore("Data Source=" + Path.Combine(directory, "keys.db")),
                "postgres" => b => b.AddPostgresStore(Server("IDEM_TEST_POSTGRES"), o => o.TableName = name),
                "redis" => b => b.AddRedisStore(Server("IDEM_TEST_REDIS"), o => o.KeyPrefix = name + ":"),
                _ => null,
            };
            await using var app = await IdemApp.StartAsync(addStore);

            var report = await Targets.RunAsync(Targets.For(app.BaseAddress));

            Assert.Equal(CheckCatalog.All.Select(c => c.Id), report.Results.Select(r => r.Check.Id));
            Assert.True(report.Results.All(r => r.Outcome == Outcome.Pass), report.Describe());
            Assert.True(report.Requests <= Target.MaxRequests);
        }
        finally
        {
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            Directory.Delete(directory, recursive: true);
            if (store == "postgres")
            {
                await using var connection = new Npgsql.NpgsqlConnection(Server("IDEM_TEST_POSTGRES"));
                await connection.OpenAsync();
                await using var drop = new Npgsql.NpgsqlCommand($"DROP TABLE IF EXISTS \"{name}\"", connection);
                await drop.ExecuteNonQueryAsync();
            }
        }
    }

    // A real server the test command provisions (./test.sh); missing, the test fails and says so.
    private static string Server(string variable)
        => Environment.GetEnvironmentVariable(variable) is { Length: > 0 } value
            ? value
            : throw new InvalidOperationException($"{variable} is not set. This test needs a real server: run ./test.sh, which provisions one.");

    [Fact]
    public async Task Run_FixtureWithNoFlaw_EveryCheckPasses()
    {
        await using var app = await FixtureApp.StartAsync(Flaw.None);

        var report = await Targets.RunAsync(Targets.For(app.BaseAddress));

        Assert.True(report.Results.All(r => r.Outcome == Outcome.Pass), report.Describe());
    }

    [Theory]
    [InlineData(Flaw.NoScope, new[] { "caller-scope" })]
    [InlineData(Flaw.ReplayWithoutLocation, new[] { "replay-headers" })]
    [InlineData(Flaw.MissingKey500, new[] { "key-missing" })]
    [InlineData(Flaw.PlainTextErrors, new[] { "error-distinct-types", "error-problem-json" })]
    [InlineData(Flaw.Stored5xx, new[] { "server-error-not-stored" })]
    [InlineData(Flaw.StoredDrop, new[] { "drop-not-stored" })]
    [InlineData(Flaw.StoredHangUp, new[] { "client-hang-up" })]
    [InlineData(Flaw.HangUpReleased, new[] { "client-hang-up" })]
    [InlineData(Flaw.TwoKeyHeaders, new[] { "key-two-headers" })]
    [InlineData(Flaw.NoExpiry, new[] { "expiry-stated" })]
    public async Task Run_FixtureBreakingOneRule_OnlyTheChecksThatNameItFail(Flaw flaw, string[] expected)
    {
        await using var app = await FixtureApp.StartAsync(flaw);

        var report = await Targets.RunAsync(Targets.For(app.BaseAddress));

        Assert.True(expected.SequenceEqual(report.Failed()), report.Describe());
    }

    [Fact]
    public async Task Run_CheckThenInsertClaim_RaceIsCaughtByTheConcurrencyChecks()
    {
        const int Width = 8;
        await using var app = await FixtureApp.StartAsync(Flaw.CheckThenInsert, raceWidth: Width);

        var report = await Targets.RunAsync(Targets.For(app.BaseAddress, concurrency: Width));

        // The race happened: every parallel duplicate found no record and ran the handler. A retry while the first request
        // still runs (after the client hung up) finds no record either, and runs again.
        Assert.Equal(Width, app.Racers);
        Assert.True(new[] { "client-hang-up", "concurrent-answers", "concurrent-one-effect" }.SequenceEqual(report.Failed()), report.Describe());
        Assert.True(report.MustFailed);
    }

    [Fact]
    public async Task Run_TargetThatDoesNotAnswer_IsAFailedCheckNotAnAbortedRun()
    {
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        var target = new Target { Url = $"http://127.0.0.1:{port}/orders", Body = "{}" };

        using var runner = new CheckRunner(target, only: ["first-call", "key-non-ascii"]);
        var report = await runner.RunAsync();

        Assert.Equal(Outcome.Skip, report.Results.Single(r => r.Check.Id == "key-non-ascii").Outcome);
        var first = report.Results.Single(r => r.Check.Id == "first-call");
        Assert.Equal(Outcome.Fail, first.Outcome);
        Assert.Contains("no answer", first.Detail, StringComparison.Ordinal);
    }
}
