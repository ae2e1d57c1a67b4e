using Idem;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the in-memory store.</summary>
public static class InMemoryIdempotencyBuilderExtensions
{
    /// <summary>
    /// Keeps records in process memory: correct under any parallelism in one process, lost on restart, not shared
    /// between nodes. Time comes from the registered <see cref="TimeProvider"/>.
    /// </summary>
    public static IIdempotencyBuilder AddInMemoryStore(this IIdempotencyBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton(TimeProvider.System);
        builder.Services.RemoveAll<IIdempotencyStore>();
        builder.Services.AddSingleton<IIdempotencyStore>(sp => new InMemoryIdempotencyStore(sp.GetRequiredService<TimeProvider>()));
        return builder;
    }
}
