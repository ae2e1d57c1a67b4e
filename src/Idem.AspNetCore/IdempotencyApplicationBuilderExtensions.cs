using Idem.AspNetCore;
using Idem.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Microsoft.AspNetCore.Builder;

/// <summary>Adds the idempotency middleware.</summary>
public static class IdempotencyApplicationBuilderExtensions
{
    /// <summary>
    /// Adds the middleware that serves endpoints marked with <c>RequireIdempotency()</c> or <c>[Idempotent]</c>. Place it
    /// after routing, authentication and authorization, so requests they turn away never touch a key.
    /// </summary>
    public static IApplicationBuilder UseIdempotency(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        if (app.ApplicationServices.GetService<IIdempotencyStore>() is null)
        {
            throw new InvalidOperationException("No idempotency store is registered. Call services.AddIdempotency().AddInMemoryStore() (or another store) first.");
        }

        return app.UseMiddleware<IdempotencyMiddleware>();
    }
}
