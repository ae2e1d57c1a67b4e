using Idem.AspNetCore.Tests.Infrastructure;

namespace Idem.AspNetCore.Tests.Sqlite;

/// <summary>
/// BEHAVIOUR §7, "a crash at any point leaves either nothing or a complete record": a real process (test/Idem.TestHost)
/// is SIGKILLed while its transactional handler holds the claim and an uncommitted row.
/// </summary>
public sealed class ProcessKillTests : IDisposable
{
    private const string Body = """{"amount":42}""";

    private readonly TempDatabase _db = new();

    public void Dispose() => _db.Dispose();

    [Fact]
    public async Task Post_ProcessKilledInsideTransaction_LeavesNothingAndRetryRunsOnce()
    {
        Reply afterRestart;
        Reply replay;
        await using (var blocking = await TestHostProcess.StartAsync(_db.Path, block: true))
        {
            using var client = new HttpClient { BaseAddress = blocking.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            var request = client.PostAsync("/transfers", "k-crash", Body);
            var blocked = blocking.WaitForLineAsync(l => l == "IDEM-TESTHOST blocked k-crash");
            if (await Task.WhenAny(blocked, request) == request)
            {
                var early = await request;
                Assert.Fail($"The request finished before the handler blocked: {early.Status} {early.Text}");
            }

            await blocked;

            await blocking.KillAsync();

            await Assert.ThrowsAsync<HttpRequestException>(() => request);
        }

        // Neither the handler's row nor the claim survived the kill.
        Assert.Equal(0, _db.Rows);
        Assert.Equal(0, _db.Keys);

        await using (var restarted = await TestHostProcess.StartAsync(_db.Path, block: false))
        {
            using var client = new HttpClient { BaseAddress = restarted.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            afterRestart = await client.PostAsync("/transfers", "k-crash", Body);
            replay = await client.PostAsync("/transfers", "k-crash", Body);
        }

        Assert.Equal(201, afterRestart.Status);
        Assert.False(afterRestart.IsReplayed);
        Assert.Equal(201, replay.Status);
        Assert.True(replay.IsReplayed);
        Assert.Equal(afterRestart.Body, replay.Body);
        Assert.Equal(afterRestart.Header("Location"), replay.Header("Location"));
        Assert.Equal(1, _db.Rows);
        Assert.Equal(42, _db.Scalar("SELECT amount FROM transfers"));
        Assert.Equal(1, _db.Keys);
    }
}
