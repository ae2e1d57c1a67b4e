using Microsoft.EntityFrameworkCore;

public sealed class OrdersDb(DbContextOptions<OrdersDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();

    // Idem's keys table is part of the model, so the database is created (or migrated) with it, exactly as the store
    // would have made it; the store is told not to create it (Program.cs).
    protected override void OnModelCreating(ModelBuilder modelBuilder) => modelBuilder.AddPostgresIdempotencyKeys();
}

public sealed class Order
{
    public Guid Id { get; set; }

    public required string Customer { get; set; }

    public required string Item { get; set; }

    public int Quantity { get; set; }
}
