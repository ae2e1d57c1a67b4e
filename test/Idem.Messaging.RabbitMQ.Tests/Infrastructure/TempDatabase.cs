using Idem.Testing;

namespace Idem.Messaging.RabbitMQ.Tests.Infrastructure;

/// <summary>A SQLite file of one test's own, deleted (with its WAL files) at the end.</summary>
internal sealed class TempDatabase() : SqliteTempFile("idem-messaging-rabbitmq-tests")
{
    public async Task<List<string>> StringsAsync(string sql)
    {
        await using var command = DataSource.CreateCommand(sql);
        await using var reader = await command.ExecuteReaderAsync();
        var values = new List<string>();
        while (await reader.ReadAsync())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }
}
