using Microsoft.EntityFrameworkCore;

namespace Idem.EntityFrameworkCore.Tests.Model;

/// <summary>An application's context whose model owns Idem's keys table beside its orders.</summary>
public sealed class KeysDb(DbContextOptions<KeysDb> options) : DbContext(options)
{
    /// <summary>The PostgreSQL schema of this test run for the model's tables (one per process: EF caches the model).</summary>
    public static readonly string PostgresSchema = "idem_efkeys_" + Guid.NewGuid().ToString("N")[..10];

    public DbSet<Order> Orders => Set<Order>();

    /// <summary>The keys table's rows, read through the model's shared-type entity.</summary>
    public DbSet<Dictionary<string, object>> Keys
        => Set<Dictionary<string, object>>(Database.IsNpgsql()
            ? IdempotencyModelBuilderExtensions.IdempotencyKeysEntityName(PostgresSchema, "idem_keys")
            : IdempotencyModelBuilderExtensions.IdempotencyKeysEntityName(null, "idem_keys"));

    protected override void OnModelCreating(ModelBuilder modelBuilder)
    {
        if (Database.IsNpgsql())
        {
            modelBuilder.HasDefaultSchema(PostgresSchema);
            modelBuilder.AddPostgresIdempotencyKeys(PostgresSchema);
        }
        else
        {
            modelBuilder.AddSqliteIdempotencyKeys();
        }

        modelBuilder.Entity<Order>(order =>
        {
            order.ToTable("orders");
            order.HasKey(o => o.Id);
            order.Property(o => o.Item).IsRequired();
        });
    }
}
