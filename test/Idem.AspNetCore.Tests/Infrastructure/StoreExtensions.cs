using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Idem.AspNetCore.Tests.Infrastructure;

internal static class StoreExtensions
{
    /// <summary>Registers exactly this store instance.</summary>
    public static IIdempotencyBuilder UseStore(this IIdempotencyBuilder builder, IIdempotencyStore store)
    {
        builder.Services.RemoveAll<IIdempotencyStore>();
        builder.Services.AddSingleton(store);
        return builder;
    }
}
