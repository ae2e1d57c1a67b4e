using Grpc.Core;
using Idem.Grpc.Tests.Protos;
using Idem.Storage;
using Microsoft.Data.Sqlite;

namespace Idem.Grpc.Tests.Host;

internal sealed record HostSettings(string ConnectionString, bool Block);

internal sealed class OrdersService(HostSettings settings) : Orders.OrdersBase
{
    private const string Insert = "INSERT INTO effects (key, process) VALUES ($key, $process) RETURNING id;";

    [IdempotentRpc]
    public override async Task<Order> Create(CreateOrderRequest request, ServerCallContext context)
    {
        var key = context.RequestHeaders.GetValue(IdempotencyMetadataKeys.Key)!;
        await BlockIfAskedAsync(key);
        await using var connection = new SqliteConnection(settings.ConnectionString);
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = Insert;
        return await WriteAsync(command, key, request);
    }

    [IdempotentRpc(Transactional = true)]
    public override async Task<Order> CreateTransactional(CreateOrderRequest request, ServerCallContext context)
    {
        var key = context.RequestHeaders.GetValue(IdempotencyMetadataKeys.Key)!;
        var tx = context.GetHttpContext().RequestServices.GetRequiredService<IIdempotencyTransaction>();
        await using var command = (SqliteCommand)tx.Connection.CreateCommand();
        command.Transaction = (SqliteTransaction)tx.Transaction;
        command.CommandText = Insert;
        var order = await WriteAsync(command, key, request);
        await BlockIfAskedAsync(key);
        return order;
    }

    private static async Task<Order> WriteAsync(SqliteCommand command, string key, CreateOrderRequest request)
    {
        command.Parameters.AddWithValue("$key", key);
        command.Parameters.AddWithValue("$process", Environment.ProcessId);
        var id = (long)(await command.ExecuteScalarAsync())!;
        return new Order { Id = $"ord_{id}", Item = request.Item, Amount = request.Amount, Run = Environment.ProcessId };
    }

    private async Task BlockIfAskedAsync(string key)
    {
        if (settings.Block)
        {
            Console.Out.WriteLine($"IDEM-GRPC-HOST blocked {key}");
            Console.Out.Flush();
            await Task.Delay(Timeout.Infinite, CancellationToken.None);
        }
    }
}
