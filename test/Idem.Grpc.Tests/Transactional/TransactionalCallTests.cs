using System.Data.Common;
using Grpc.Core;
using Idem.Grpc.Tests.Infrastructure;
using Idem.Grpc.Tests.Protos;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Grpc.Tests.Transactional;

/// <summary>
/// Transactional methods on a SQL store: the handler writes a row through <see cref="IIdempotencyTransaction"/>, and the
/// row, the claim and the stored answer commit together. Each store's class supplies the database.
/// </summary>
public abstract class TransactionalCallTests
{
    /// <summary>Registers the store under test.</summary>
    private protected abstract void AddStore(IIdempotencyBuilder builder);

    /// <summary>The table the handler writes to (schema-qualified where the store needs it).</summary>
    private protected abstract string EffectsTable { get; }

    /// <summary>Counts the committed rows the handler wrote for <paramref name="key"/>, on a connection of the test's own.</summary>
    private protected abstract Task<long> CountEffectsAsync(string key);

    [Fact]
    public async Task CreateTransactional_RetryWithSameKey_ReplaysAndTheRowExistsOnce()
    {
        var runs = 0;
        await using var app = await CreateSut(async (tx, key, request) =>
        {
            Interlocked.Increment(ref runs);
            await WriteEffectAsync(tx, key);
            return new Order { Id = "ord_" + key, Item = request.Item, Amount = request.Amount, Run = runs };
        });

        var first = await Calls.AnswerAsync(app.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("tx-1")));
        var retry = await Calls.AnswerAsync(app.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("tx-1")));

        Assert.Equal(StatusCode.OK, first.Status);
        Assert.Equal(first.Order, retry.Order);
        Assert.True(retry.IsReplayed);
        Assert.Equal(1, runs);
        Assert.Equal(1, await CountEffectsAsync("tx-1"));
    }

    [Fact]
    public async Task CreateTransactional_HandlerFailsRetryablyAfterWriting_RollsBackAndRetryWritesOnce()
    {
        var runs = 0;
        await using var app = await CreateSut(async (tx, key, request) =>
        {
            await WriteEffectAsync(tx, key);
            return Interlocked.Increment(ref runs) == 1
                ? throw new RpcException(new Status(StatusCode.Unavailable, "downstream timed out"))
                : new Order { Id = "ord_" + key, Item = request.Item, Amount = request.Amount, Run = runs };
        });

        var first = await Calls.AnswerAsync(app.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("tx-2")));
        Assert.Equal(StatusCode.Unavailable, first.Status);
        Assert.Equal(0, await CountEffectsAsync("tx-2"));

        var retry = await Calls.AnswerAsync(app.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("tx-2")));
        Assert.Equal(StatusCode.OK, retry.Status);
        Assert.Equal(1, await CountEffectsAsync("tx-2"));
    }

    [Fact]
    public async Task CreateTransactional_ParallelCallsWithOneKey_WriteTheRowOnce()
    {
        var runs = 0;
        await using var app = await CreateSut(async (tx, key, request) =>
        {
            var run = Interlocked.Increment(ref runs);
            await WriteEffectAsync(tx, key);
            await Task.Delay(50);
            return new Order { Id = "ord_" + key, Item = request.Item, Amount = request.Amount, Run = run };
        });

        var answers = await Task.WhenAll(Enumerable.Range(0, 10)
            .Select(_ => Calls.AnswerAsync(app.Client.CreateTransactionalAsync(Calls.Request(), Calls.Key("tx-3")))));

        // A duplicate waits on the claim and replays, or (standalone-style) is told the first still runs.
        Assert.All(answers, a => Assert.Contains(a.Status, new[] { StatusCode.OK, StatusCode.Aborted }));
        Assert.Single(answers.Where(a => a.Status == StatusCode.OK).Select(a => a.Order).Distinct());
        Assert.Equal(1, runs);
        Assert.Equal(1, await CountEffectsAsync("tx-3"));
    }

    private async Task<GrpcTestApp> CreateSut(Func<IIdempotencyTransaction, string, CreateOrderRequest, Task<Order>> handler)
        => await GrpcTestApp.StartAsync(
            (request, context) =>
            {
                var services = context.GetHttpContext().RequestServices;
                var key = services.GetRequiredService<IIdempotencyContext>().Key;
                return handler(services.GetRequiredService<IIdempotencyTransaction>(), key, request);
            },
            AddStore);

    private async Task WriteEffectAsync(IIdempotencyTransaction tx, string key)
    {
        await using var command = tx.Connection.CreateCommand();
        command.Transaction = tx.Transaction;
        command.CommandText = $"INSERT INTO {EffectsTable} (key) VALUES (@key)";
        var parameter = command.CreateParameter();
        parameter.ParameterName = "key";
        parameter.Value = key;
        command.Parameters.Add(parameter);
        await command.ExecuteNonQueryAsync();
    }

    private protected static async Task<long> CountAsync(DbDataSource dataSource, string table, string key)
    {
        await using var command = dataSource.CreateCommand($"SELECT count(*) FROM {table} WHERE key = @key");
        var parameter = command.CreateParameter();
        parameter.ParameterName = "key";
        parameter.Value = key;
        command.Parameters.Add(parameter);
        return Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
