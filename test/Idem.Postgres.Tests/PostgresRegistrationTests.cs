using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Idem.Postgres.Tests;

/// <summary>How <c>AddPostgresStore</c> registers the store: no server needed.</summary>
public sealed class PostgresRegistrationTests
{
    // Nothing listens on port 1: opening fails at once, and how it fails tells whether a data source was disposed.
    private const string ConnectionString = "Host=127.0.0.1;Port=1;Timeout=2;Username=idem;Database=idem_test";

    [Fact]
    public void AddPostgresStore_RegistersOneSingletonForBothContracts()
    {
        using var provider = CreateSut().AddPostgresStore(ConnectionString).Services.BuildServiceProvider();

        var store = provider.GetRequiredService<IIdempotencyStore>();

        Assert.IsType<PostgresIdempotencyStore>(store);
        Assert.Same(store, provider.GetRequiredService<ITransactionalIdempotencyStore>());
        Assert.Same(store, provider.GetRequiredService<IIdempotencyStore>());
    }

    [Fact]
    public async Task AddPostgresStore_ConnectionString_DisposesTheDataSourceItBuilt()
    {
        var provider = CreateSut().AddPostgresStore(ConnectionString).Services.BuildServiceProvider();
        var store = (PostgresIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();

        await provider.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await store.DataSource.OpenConnectionAsync());
    }

    [Fact]
    public async Task AddPostgresStore_DataSource_IsUsedAndLeftToItsOwner()
    {
        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        var provider = CreateSut().AddPostgresStore(dataSource).Services.BuildServiceProvider();
        var store = (PostgresIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();

        await provider.DisposeAsync();

        Assert.Same(dataSource, store.DataSource);
        await Assert.ThrowsAsync<NpgsqlException>(async () => await dataSource.OpenConnectionAsync());
    }

    [Fact]
    public async Task AddPostgresStore_NoArguments_UsesTheDataSourceRegisteredInTheContainer()
    {
        await using var dataSource = NpgsqlDataSource.Create(ConnectionString);
        var builder = CreateSut();
        builder.Services.AddSingleton(dataSource);
        using var provider = builder.AddPostgresStore(o => o.TableName = "from_di").Services.BuildServiceProvider();

        var store = (PostgresIdempotencyStore)provider.GetRequiredService<IIdempotencyStore>();

        Assert.Same(dataSource, store.DataSource);
        Assert.Equal("\"public\".\"from_di\"", store.Sql.QualifiedTable);
    }

    [Fact]
    public void AddPostgresStore_ReplacesAnEarlierStore()
    {
        var builder = CreateSut();
        builder.Services.AddSingleton<IIdempotencyStore>(new InMemoryIdempotencyStore());

        builder.AddPostgresStore(ConnectionString);

        Assert.Single(builder.Services, d => d.ServiceType == typeof(IIdempotencyStore));
        using var provider = builder.Services.BuildServiceProvider();
        Assert.IsType<PostgresIdempotencyStore>(provider.GetRequiredService<IIdempotencyStore>());
    }

    [Fact]
    public void AddPostgresStore_InvalidConnectionString_ThrowsAtRegistration()
    {
        Assert.ThrowsAny<ArgumentException>(() => CreateSut().AddPostgresStore(" "));
        Assert.ThrowsAny<ArgumentException>(() => CreateSut().AddPostgresStore("Hots=typo"));
    }

    [Fact]
    public void AddPostgresStore_InvalidTableName_FailsAtStartNamingTheOption()
        => AssertFailsAtStart(o => o.TableName = "bad name", nameof(PostgresStoreOptions.TableName));

    [Fact]
    public void AddPostgresStore_ZeroLockTimeout_FailsAtStartNamingTheOption()
        => AssertFailsAtStart(o => o.LockTimeout = TimeSpan.Zero, nameof(PostgresStoreOptions.LockTimeout));

    [Fact]
    public void AddPostgresStore_InvalidSchema_StoreResolutionThrowsOptionsValidationException()
    {
        using var provider = CreateSut().AddPostgresStore(ConnectionString, o => o.Schema = "pg_idem").Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IIdempotencyStore>());

        Assert.Contains(nameof(PostgresStoreOptions.Schema), error.Message, StringComparison.Ordinal);
    }

    private static void AssertFailsAtStart(Action<PostgresStoreOptions> configure, string option)
    {
        using var provider = CreateSut().AddPostgresStore(ConnectionString, configure).Services.BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IStartupValidator>().Validate());

        Assert.Equal(typeof(PostgresStoreOptions), error.OptionsType);
        Assert.Contains(option, error.Message, StringComparison.Ordinal);
    }

    private static TestBuilder CreateSut() => new(new ServiceCollection());
}
