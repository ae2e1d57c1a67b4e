using Idem.Testing;
using Xunit.Abstractions;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Postgres.Tests;

/// <summary>
/// A process holding a key on PostgreSQL is killed (SIGKILL) after its recovery point: the key frees itself when the
/// default lease runs out, and the retry resumes at the point (see <see cref="KilledHolder"/>). Takes about a lease (30 s).
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresKilledHolderTests(PostgresSchema schema, ITestOutputHelper output) : IClassFixture<PostgresSchema>
{
    [Fact]
    public Task Retry_HolderKilledAfterRecoveryPoint_ResumesOnceWhenTheDefaultLeaseRunsOut() => RunAsync(batching: false);

    [Fact]
    public Task Retry_BatchingHolderKilledAfterRecoveryPoint_ResumesOnceWhenTheDefaultLeaseRunsOut() => RunAsync(batching: true);

    // With batching, the killed holder claimed its key in a batch, and the retry claims and completes through batches.
    private async Task RunAsync(bool batching)
    {
        await schema.ExecuteAsync($"CREATE TABLE IF NOT EXISTS \"{schema.Name}\".charges (key text NOT NULL);");
        var connection = PostgresServer.ConnectionString;

        var held = await KilledHolder.RetryAfterKillAsync(
            batching ? "postgres-batched" : "postgres",
            connection,
            schema.Name,
            idempotency =>
            {
                idempotency.Services.Configure<IdempotencyOptions>(o => o.Batching.Enabled = batching);
                idempotency.AddPostgresStore(connection, o => o.Schema = schema.Name);
            },
            key => schema.ExecuteAsync($"INSERT INTO \"{schema.Name}\".charges (key) VALUES ($1)", key),
            key => schema.ScalarAsync<long>($"SELECT count(*) FROM \"{schema.Name}\".charges WHERE key = $1", key));
        output.WriteLine($"The killed holder's key was held {held.TotalSeconds:F1} s after the kill.");
    }
}
