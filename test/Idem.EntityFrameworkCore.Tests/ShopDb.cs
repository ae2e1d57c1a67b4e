using Microsoft.EntityFrameworkCore;

namespace Idem.EntityFrameworkCore.Tests;

/// <summary>An application's own context: orders, in the schema the test's database gives it.</summary>
public sealed class ShopDb(DbContextOptions<ShopDb> options) : DbContext(options)
{
    /// <summary>The PostgreSQL schema of this test run (one per process, so EF's cached model fits every context).</summary>
    public static readonly string PostgresSchema = "idem_ef_" + Guid.NewGuid().ToString("N")[..10];

    public DbSet<Order> Orders => Set<Order>();

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        if (Database.IsNpgsql())
        {
            modelBuilder.HasDefaultSchema(PostgresSchema);
        }

        modelBuilder.Entity<Order>(order =>
        {
            order.ToTable("orders");
            order.HasKey(o => o.Id);
            order.Property(o => o.Item).IsRequired();
        });
    }
}

public sealed class Order
{
    public Guid Id { get; set; }

    public string Item { get; set; } = "";

    public string? Key { get; set; }
}

public sealed record OrderRequest(string Item);
