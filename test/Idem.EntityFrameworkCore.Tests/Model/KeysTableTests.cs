using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace Idem.EntityFrameworkCore.Tests.Model;

/// <summary>
/// The keys table as part of the application's EF Core model: the model's first migration creates it, the store (with its
/// own table creation off) claims, completes and replays on it, and the table the model makes is, in the database's own
/// catalog, the table the store makes, so the two cannot drift apart.
/// </summary>
public abstract class KeysTableTests : IAsyncLifetime
{
    private ServiceProvider? _services;

    /// <summary>The model's database (where the migration runs).</summary>
    protected abstract void UseDatabase(DbContextOptionsBuilder options);

    /// <summary>The store on the model's database, creating nothing of its own.</summary>
    protected abstract void AddStoreOnTheModelsTable(IIdempotencyBuilder idempotency);

    /// <summary>Lets the store create its own table (in another database or schema) and describes it from the catalog.</summary>
    protected abstract Task<IReadOnlyList<string>> DescribeStoreMadeTableAsync();

    /// <summary>Describes the keys table in the model's database from the catalog.</summary>
    protected abstract Task<IReadOnlyList<string>> DescribeModelMadeTableAsync();

    protected abstract Task DropAsync();

    protected IServiceProvider Services => _services!;

    public virtual Task InitializeAsync()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddDbContext<KeysDb>(UseDatabase);
        var idempotency = services.AddIdempotency();
        AddStoreOnTheModelsTable(idempotency);
        idempotency.AddEntityFrameworkCore<KeysDb>();
        _services = services.BuildServiceProvider();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        if (_services is not null)
        {
            await _services.DisposeAsync();
        }

        await DropAsync();
    }

    [Fact]
    public async Task InitialMigration_CreatesTheKeysTable_AndTheStoreClaimsCompletesAndReplaysOnIt()
    {
        string script;
        await using (var scope = Services.CreateAsyncScope())
        {
            script = await Migrations.ApplyInitialAsync(scope.ServiceProvider.GetRequiredService<KeysDb>());
        }

        Assert.Contains("idem_keys", script, StringComparison.Ordinal);
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var key = Guid.NewGuid().ToString("N");
        var operation = IdempotentOperation.Create("orders.place", key) with { Transactional = true };
        var runs = 0;
        async ValueTask<string> PlaceAsync(IIdempotencyContext idem, CancellationToken ct)
        {
            runs++;
            await using var scope = Services.CreateAsyncScope();
            var db = scope.ServiceProvider.GetRequiredService<KeysDb>();
            var order = new Order { Id = Guid.NewGuid(), Item = "book", Key = key };
            db.Orders.Add(order);
            await db.SaveChangesAsync(ct);
            return order.Id.ToString();
        }

        var first = await executor.RunAsync(operation, PlaceAsync);
        var retry = await executor.RunAsync(operation, PlaceAsync);

        Assert.Equal(IdempotentOutcome.Executed, first.Outcome);
        Assert.Equal(IdempotentOutcome.Replayed, retry.Outcome);
        Assert.Equal(first.Value, retry.Value);
        Assert.Equal(1, runs);
        await using (var scope = Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<KeysDb>();
            Assert.Equal(1, await db.Orders.CountAsync(o => o.Key == key));
            var record = Assert.Single(await db.Keys.Where(k => EF.Property<string>(k, "key") == operation.StoreKey).ToListAsync());
            Assert.Equal(1, Convert.ToInt32(record["state"], System.Globalization.CultureInfo.InvariantCulture)); // completed
        }
    }

    [Fact]
    public async Task ModelMadeTable_IsTheStoreMadeTable_InTheCatalog()
    {
        await using (var scope = Services.CreateAsyncScope())
        {
            await Migrations.ApplyInitialAsync(scope.ServiceProvider.GetRequiredService<KeysDb>());
        }

        var fromStore = await DescribeStoreMadeTableAsync();
        var fromModel = await DescribeModelMadeTableAsync();

        // 13 columns, the primary key's index or constraint and the expiry index.
        Assert.True(fromStore.Count >= 15, string.Join("\n", fromStore));
        Assert.Equal(fromStore, fromModel);
    }

    [Fact]
    public async Task StoreWithCreateSchemaOff_CreatesNoTable()
    {
        var executor = Services.GetRequiredService<IIdempotentExecutor>();
        var operation = IdempotentOperation.Create("orders.place", Guid.NewGuid().ToString("N")) with { Transactional = true };

        var result = await executor.RunAsync(operation, (_, _) => ValueTask.FromResult("ran"));

        Assert.Equal(IdempotentOutcome.StoreUnavailable, result.Outcome);
        Assert.Empty(await DescribeModelMadeTableAsync());
    }
}
