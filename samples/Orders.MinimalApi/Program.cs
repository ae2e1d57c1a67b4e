using Microsoft.EntityFrameworkCore;

var builder = WebApplication.CreateBuilder(args);
var connectionString = builder.Configuration.GetConnectionString("Orders")
    ?? throw new InvalidOperationException("Set ConnectionStrings:Orders to a PostgreSQL database (an Npgsql connection string).");

builder.Services.AddDbContext<OrdersDb>(o => o.UseNpgsql(connectionString));
builder.Services.AddIdempotency()
                .AddPostgresStore(connectionString, o => o.CreateSchema = false)   // the keys table is in the model (OrdersDb)
                .AddEntityFrameworkCore<OrdersDb>();      // the context joins the claim's transaction

var app = builder.Build();

await using (var scope = app.Services.CreateAsyncScope())
{
    await scope.ServiceProvider.GetRequiredService<OrdersDb>().Database.EnsureCreatedAsync();
}

app.UseIdempotency();

// The key, the order and the stored 201 commit in one transaction: a retry with the same key gets the same order back.
app.MapPost("/orders", async (NewOrder request, OrdersDb db) =>
{
    var order = new Order { Id = Guid.NewGuid(), Customer = request.Customer, Item = request.Item, Quantity = request.Quantity };
    db.Orders.Add(order);
    await db.SaveChangesAsync();
    return Results.Created($"/orders/{order.Id}", order);
}).RequireIdempotency(p => p.Transactional());

app.MapGet("/orders/{id:guid}", async (Guid id, OrdersDb db)
    => await db.Orders.FindAsync(id) is { } order ? Results.Ok(order) : Results.NotFound());

app.Run();

public sealed record NewOrder(string Customer, string Item, int Quantity);
