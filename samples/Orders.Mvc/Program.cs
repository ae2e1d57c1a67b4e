using Microsoft.EntityFrameworkCore;

var builder = WebApplication.CreateBuilder(args);
var connectionString = builder.Configuration.GetConnectionString("Orders") ?? "Data Source=orders.db";

builder.Services.AddControllers();
builder.Services.AddDbContext<OrdersDb>(o => o.UseSqlite(connectionString));
builder.Services.AddIdempotency()
                .AddSqliteStore(connectionString)         // the keys live in the same file as the orders
                .AddEntityFrameworkCore<OrdersDb>();      // the context joins the claim's transaction

var app = builder.Build();

await using (var scope = app.Services.CreateAsyncScope())
{
    await scope.ServiceProvider.GetRequiredService<OrdersDb>().Database.EnsureCreatedAsync();
}

app.UseIdempotency();
app.MapControllers();
app.Run();
