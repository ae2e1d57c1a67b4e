using Microsoft.EntityFrameworkCore;

public sealed class OrdersDb(DbContextOptions<OrdersDb> options) : DbContext(options)
{
    public DbSet<Order> Orders => Set<Order>();
}

public sealed class Order
{
    public Guid Id { get; set; }

    public required string Customer { get; set; }

    public required string Item { get; set; }

    public int Quantity { get; set; }
}
