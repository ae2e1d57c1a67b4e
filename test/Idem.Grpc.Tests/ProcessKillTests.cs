using Grpc.Core;
using Idem.Grpc.Tests.Infrastructure;
using Idem.Testing;

namespace Idem.Grpc.Tests;

/// <summary>
/// A real server process killed with SIGKILL while its handler holds a call; a retry with the same key against a fresh
/// process on the same SQLite file must leave the call's effect exactly once.
/// </summary>
public sealed class ProcessKillTests : IAsyncLifetime
{
    // Short, so a key held by the killed process frees up within seconds.
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(2);

    private readonly SqliteTempFile _database = new("idem-grpc-kill-tests");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _database.DisposeAsync();

    [Fact]
    public async Task CreateTransactional_ProcessKilledWhileHandlerHolds_RetryOnFreshProcessWritesOnce()
    {
        await using (var doomed = await CreateSut(block: true))
        {
            using var call = doomed.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("kill-tx"));
            await doomed.WhenBlockedAsync("kill-tx");
            await doomed.KillAsync();
            await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        }

        // The killed process's transaction, claim and row included, never committed.
        Assert.Equal(0, await EffectsAsync("kill-tx"));
        await using var fresh = await CreateSut(block: false);
        var retry = await Calls.AnswerAsync(fresh.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("kill-tx")));
        var again = await Calls.AnswerAsync(fresh.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("kill-tx")));

        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.Equal(retry.Order, again.Order);
        Assert.True(again.IsReplayed);
        Assert.Equal(1, await EffectsAsync("kill-tx"));
    }

    [Fact]
    public async Task Create_ProcessKilledWhileHandlerHolds_RetryRunsOnceAfterTheLease()
    {
        await using (var doomed = await CreateSut(block: true))
        {
            using var call = doomed.Client.CreateAsync(Calls.Request(), Calls.Key("kill-standalone"));
            await doomed.WhenBlockedAsync("kill-standalone");
            await doomed.KillAsync();
            await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        }

        // The dead process's claim holds the key until its lease runs out: the retry is told to wait, then runs once.
        await using var fresh = await CreateSut(block: false);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        Answer retry;
        while ((retry = await Calls.AnswerAsync(fresh.Client.CreateAsync(Calls.Request(), Calls.Key("kill-standalone")))).Status == StatusCode.Aborted)
        {
            Assert.True(DateTime.UtcNow < deadline, "The killed process's lease never ran out.");
            await Task.Delay(int.Parse(retry.Trailer(IdempotencyMetadataKeys.RetryAfter)!, System.Globalization.CultureInfo.InvariantCulture) / 4);
        }

        var again = await Calls.AnswerAsync(fresh.Client.CreateAsync(Calls.Request(), Calls.Key("kill-standalone")));

        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.Equal(retry.Order, again.Order);
        Assert.True(again.IsReplayed);
        Assert.Equal(1, await EffectsAsync("kill-standalone"));
    }

    private Task<GrpcHostProcess> CreateSut(bool block) => GrpcHostProcess.StartAsync(_database.Path, Lease, block);

    private async Task<long> EffectsAsync(string key)
    {
        // The first host creates the table; before that there is nothing to count.
        var exists = await _database.CountAsync("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'effects'");
        return exists == 0 ? 0 : await _database.CountAsync($"SELECT count(*) FROM effects WHERE key = '{key}'");
    }
}
