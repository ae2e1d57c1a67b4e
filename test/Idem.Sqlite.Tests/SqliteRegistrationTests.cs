using Idem;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Sqlite.Tests;

public sealed class SqliteRegistrationTests : IDisposable
{
    private readonly TempDatabase _database = new();

    public void Dispose() => _database.Dispose();

    [Fact]
    public void AddSqliteStore_RegistersOneSingletonForBothContracts()
    {
        using var provider = CreateSut().AddSqliteStore(_database.ConnectionString).Services.BuildServiceProvider();

        var store = provider.GetRequiredService<IIdempotencyStore>();

        Assert.IsType<SqliteIdempotencyStore>(store);
        Assert.Same(store, provider.GetRequiredService<ITransactionalIdempotencyStore>());
        Assert.Same(store, provider.GetRequiredService<IIdempotencyStore>());
    }

    [Fact]
    public async Task AddSqliteStore_UsesTheRegisteredTimeProvider()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2031, 1, 2, 3, 4, 5, TimeSpan.Zero));
        var builder = CreateSut();
        builder.Services.AddSingleton<TimeProvider>(time);
        await using var provider = builder.AddSqliteStore(_database.ConnectionString).Services.BuildServiceProvider();
        var store = provider.GetRequiredService<IIdempotencyStore>();

        await store.TryClaimAsync(new ClaimRequest("k", "f", TimeSpan.FromMinutes(1), TimeSpan.FromHours(1)));

        Assert.Equal(time.GetUtcNow(), (await store.GetAsync("k"))!.CreatedAt);
    }

    [Fact]
    public void AddSqliteStore_NoTimeProvider_FallsBackToSystem()
    {
        using var provider = CreateSut().AddSqliteStore(_database.ConnectionString).Services.BuildServiceProvider();

        Assert.Same(TimeProvider.System, provider.GetRequiredService<TimeProvider>());
    }

    [Fact]
    public async Task AddSqliteStore_Configure_AppliesTableName()
    {
        await using var provider = CreateSut().AddSqliteStore(_database.ConnectionString, o => o.TableName = "my_keys").Services.BuildServiceProvider();

        await provider.GetRequiredService<IIdempotencyStore>().GetAsync("k");

        Assert.Equal(1, _database.Scalar<long>("SELECT COUNT(*) FROM sqlite_master WHERE name = 'my_keys';"));
    }

    [Fact]
    public void AddSqliteStore_ReplacesAnEarlierStore()
    {
        var builder = CreateSut();
        builder.Services.AddSingleton<IIdempotencyStore>(new InMemoryIdempotencyStore());

        builder.AddSqliteStore(_database.ConnectionString);

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IIdempotencyStore));
        using var provider = builder.Services.BuildServiceProvider();
        Assert.IsType<SqliteIdempotencyStore>(provider.GetRequiredService<IIdempotencyStore>());
    }

    [Fact]
    public void AddSqliteStore_InvalidTableName_FailsAtStartNamingTheOption()
        => AssertFailsAtStart(o => o.TableName = "bad name", nameof(SqliteStoreOptions.TableName));

    [Fact]
    public void AddSqliteStore_BusyTimeoutOutOfRange_FailsAtStartNamingTheOption()
        => AssertFailsAtStart(o => o.BusyTimeout = TimeSpan.FromHours(1), nameof(SqliteStoreOptions.BusyTimeout));

    [Fact]
    public void AddSqliteStore_InvalidOptions_StoreResolutionThrowsOptionsValidationException()
    {
        using var provider = CreateSut().AddSqliteStore(_database.ConnectionString, o => o.TableName = "bad name").Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IIdempotencyStore>());

        Assert.Contains(nameof(SqliteStoreOptions.TableName), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void AddSqliteStore_BlankConnectionString_ThrowsAtRegistration()
        => Assert.ThrowsAny<ArgumentException>(() => CreateSut().AddSqliteStore(" "));

    private void AssertFailsAtStart(Action<SqliteStoreOptions> configure, string option)
    {
        using var provider = CreateSut().AddSqliteStore(_database.ConnectionString, configure).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Equal(typeof(SqliteStoreOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    private static TestBuilder CreateSut() => new(new ServiceCollection());

    private sealed class TestBuilder(IServiceCollection services) : IIdempotencyBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
