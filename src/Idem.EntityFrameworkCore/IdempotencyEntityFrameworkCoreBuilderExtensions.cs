using Idem;
using Idem.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Entity Framework Core contexts that join idempotent operations' transactions.</summary>
public static class IdempotencyEntityFrameworkCoreBuilderExtensions
{
    /// <summary>
    /// Makes <typeparamref name="TContext"/>, registered with <c>AddDbContext</c> (before this call), join the transaction
    /// of the transactional operation that runs when it is resolved: in a request to an endpoint marked
    /// <c>Transactional()</c>, the context a handler takes from DI writes in the claim's transaction, and Idem commits it
    /// with the stored response. Outside such an operation the context is as <c>AddDbContext</c> made it. The store must
    /// be on the same database as the context (<c>AddSqliteStore</c> or <c>AddPostgresStore</c> with the same connection
    /// string). Not for context pooling (<c>AddDbContextPool</c>).
    /// </summary>
    public static IIdempotencyBuilder AddEntityFrameworkCore<TContext>(this IIdempotencyBuilder builder)
        where TContext : DbContext
    {
        ArgumentNullException.ThrowIfNull(builder);
        var services = builder.Services;
        var registered = services.LastOrDefault(d => d.ServiceType == typeof(TContext) && !d.IsKeyedService)
            ?? throw new InvalidOperationException($"Register {typeof(TContext).Name} with AddDbContext<{typeof(TContext).Name}>() before AddEntityFrameworkCore<{typeof(TContext).Name}>().");
        if (registered.Lifetime != ServiceLifetime.Scoped)
        {
            throw new InvalidOperationException($"{typeof(TContext).Name} is registered as {registered.Lifetime}; only a scoped context (AddDbContext's default) can join a request's transaction.");
        }

        services.ConfigureDbContext<TContext>(options => options.UseIdempotency());
        services.Remove(registered);
        services.Add(ServiceDescriptor.Scoped(sp => Create<TContext>(sp, registered).JoinIdempotentTransaction()));
        return builder;
    }

    private static TContext Create<TContext>(IServiceProvider services, ServiceDescriptor registered)
        where TContext : DbContext
        => (TContext)(registered.ImplementationFactory?.Invoke(services)
            ?? registered.ImplementationInstance
            ?? ActivatorUtilities.CreateInstance(services, registered.ImplementationType!));
}
