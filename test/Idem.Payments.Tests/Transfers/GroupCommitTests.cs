using System.Diagnostics.Metrics;
using System.Net;
using System.Text.Json;
using Idem.Payments.Tests.Infrastructure;
using Xunit;
using Xunit.Abstractions;

namespace Idem.Payments.Tests.Transfers;

/// <summary>
/// Transfers through one hot account in group commit (the default on SQLite, turned on for PostgreSQL): each request keeps its own answer, the
/// refused ones beside the applied ones, and the requests share commits.
/// </summary>
public abstract class GroupCommitTests(PaymentsServer server, ITestOutputHelper output)
{
    public sealed class OnSqlite(SqliteGroupCommitServer server, ITestOutputHelper output) : GroupCommitTests(server, output), IClassFixture<SqliteGroupCommitServer>;

    public sealed class OnPostgres(PostgresGroupCommitServer server, ITestOutputHelper output) : GroupCommitTests(server, output), IClassFixture<PostgresGroupCommitServer>;

    [Fact]
    public async Task HotAccount_FortyTransfersAtOnce_ShareCommits()
    {
        // The commits this server's group commit makes, from its own meter (other servers run beside it).
        var factory = server.GetRequiredService<IMeterFactory>();
        var commits = 0;
        var operations = 0L;
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "idem.group_commit.operations" && ReferenceEquals(instrument.Meter.Scope, factory))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, value, _, _) =>
        {
            Interlocked.Increment(ref commits);
            Interlocked.Add(ref operations, value);
        });
        listener.Start();

        var (_, ids) = await HotAccountStormAsync(40, funds: 40 * 50);
        listener.Dispose();

        output.WriteLine($"{operations} operations in {commits} commits");
        Assert.Equal(40, ids.Count);
        Assert.True(operations >= 40, $"{operations} operations counted");
        Assert.InRange(commits, 1, (int)operations - 1);
    }

    [Fact]
    public async Task HotAccount_MoreTransfersThanFunds_EachAnsweredAloneAndAppliedOnce()
    {
        // 1,000 covers twenty transfers of 50: the other twenty are refused, in the same batches as the applied ones.
        var (tenant, ids) = await HotAccountStormAsync(40, funds: 1_000);

        Assert.Equal(20, ids.Count);
        Assert.Equal(20, await server.Probe.CountAsync("SELECT COUNT(*) FROM transfers WHERE tenant_id = @t", tenant.TenantId));
        await tenant.AssertAuditCleanAsync();
    }

    // Transfers of 50 from one account to four others, all released at once with keys of their own; returns the ids of
    // the applied ones after checking every answer is a 201 or a 422 insufficient-funds, and that each replays.
    protected async Task<(TenantClient Tenant, List<string> Applied)> HotAccountStormAsync(int count, long funds)
    {
        var tenant = server.NewTenant();
        var hot = await tenant.CreateAccountIdAsync();
        var others = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            others.Add(await tenant.CreateAccountIdAsync());
        }

        await tenant.DepositAsync(hot, funds);
        var go = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var requests = Enumerable.Range(0, count).Select(async i =>
        {
            await go.Task;
            var key = TenantClient.NewKey();
            using var response = await tenant.TransferAsync(hot, others[i % others.Count], 50, idempotencyKey: key);
            return (Key: key, To: others[i % others.Count], response.StatusCode, Body: await response.Content.ReadAsStringAsync());
        }).ToArray();
        go.SetResult();
        var results = await Task.WhenAll(requests);

        Assert.All(results, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.UnprocessableEntity, $"{r.StatusCode}: {r.Body}"));
        Assert.All(results.Where(r => r.StatusCode == HttpStatusCode.UnprocessableEntity), r => Assert.Contains("insufficient-funds", r.Body, StringComparison.Ordinal));
        foreach (var (key, to, status, body) in results)
        {
            using var replay = await tenant.TransferAsync(hot, to, 50, idempotencyKey: key);
            Assert.Equal(status, replay.StatusCode);
            Assert.Equal(body, await replay.Content.ReadAsStringAsync());
        }

        var applied = results.Where(r => r.StatusCode == HttpStatusCode.Created).Select(r => JsonDocument.Parse(r.Body).RootElement.GetProperty("id").GetString()!).ToList();
        Assert.Equal(funds - (50 * applied.Count), await tenant.BalanceAsync(hot));
        return (tenant, applied);
    }
}
