using Idem.Storage;
using Idem.Storage.ConformanceTests;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.Postgres.Tests;

/// <summary>
/// The PostgreSQL store against the whole conformance suite, standalone and transactional, on the real server. Its clock
/// is the database's, so time passes for real: short leases keep the suite quick (Retention = 3 × Lease = 18 × Tick).
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresStoreConformanceTests(PostgresSchema schema) : TransactionalStoreConformanceTests, IClassFixture<PostgresSchema>
{
    protected override TimeSpan Lease => PostgresTiming.Lease;

    protected override TimeSpan Retention => PostgresTiming.Retention;

    protected override TimeSpan Tick => PostgresTiming.Tick;

    protected override int RaceRounds => PostgresTiming.RaceRounds;

    protected override ValueTask<ITransactionalIdempotencyStore> CreateTransactionalStoreAsync() => new(schema.CreateStore());

    protected override Task WriteEffectAsync(IIdempotencyTransaction transaction, string effectId) => schema.WriteEffectAsync(transaction, effectId);

    protected override Task<bool> EffectExistsAsync(string effectId) => schema.EffectExistsAsync(effectId);

    protected override Task WriteDeferredReferenceAsync(IIdempotencyTransaction transaction, string effectId) => schema.WriteDeferredReferenceAsync(transaction, effectId);

    protected override Task<bool> DeferredReferenceExistsAsync(string effectId) => schema.DeferredReferenceExistsAsync(effectId);
}

/// <summary>
/// The standalone suite once more, on a store registered the way an application registers it: <c>AddPostgresStore</c>
/// with the application's own <see cref="Npgsql.NpgsqlDataSource"/>.
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresStandaloneConformanceTests(PostgresSchema schema) : RegisteredStoreConformanceTests, IClassFixture<PostgresSchema>
{
    protected override TimeSpan Lease => PostgresTiming.Lease;

    protected override TimeSpan Retention => PostgresTiming.Retention;

    protected override TimeSpan Tick => PostgresTiming.Tick;

    protected override int RaceRounds => PostgresTiming.RaceRounds;

    protected override void Register(IIdempotencyBuilder builder)
    {
        var table = schema.NewTableName();
        builder.AddPostgresStore(schema.DataSource, o =>
        {
            o.Schema = schema.Name;
            o.TableName = table;
        });
    }
}

/// <summary>The real-time durations the conformance suite runs with on the database clock.</summary>
internal static class PostgresTiming
{
    // Larger than a store call under the suite's own load (64-way races in parallel classes on two cores): one
    // measured at up to ~150 ms, so timing assertions keep a margin.
    public static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    public static readonly TimeSpan Lease = 6 * Tick;
    public static readonly TimeSpan Retention = 3 * Lease;

    // Each of the two classes races 25 rounds of 64 claimers (the suite's 50 between them), in parallel with each other.
    public const int RaceRounds = 25;
}

internal sealed class TestBuilder(IServiceCollection services) : IIdempotencyBuilder
{
    public IServiceCollection Services { get; } = services;
}

/// <summary>
/// The suite through batched claims and completions on PostgreSQL: each statement of a batch in one round trip and one
/// implicit transaction, with the executor's batching on.
/// </summary>
[Trait("Category", PostgresServer.Category)]
public sealed class PostgresBatchingConformanceTests(PostgresSchema schema) : BatchingStoreConformanceTests, IClassFixture<PostgresSchema>
{
    protected override TimeSpan Lease => PostgresTiming.Lease;

    protected override TimeSpan Retention => PostgresTiming.Retention;

    protected override TimeSpan Tick => PostgresTiming.Tick;

    protected override int RaceRounds => PostgresTiming.RaceRounds;

    protected override ValueTask<IBatchingStore> CreateBatchingStoreAsync() => new(schema.CreateStore());
}
