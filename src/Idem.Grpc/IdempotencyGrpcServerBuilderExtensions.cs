using Grpc.AspNetCore.Server;
using Idem;
using Idem.Grpc;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Adds Idem to a Grpc.AspNetCore server.</summary>
public static class IdempotencyGrpcServerBuilderExtensions
{
    /// <summary>
    /// Adds the idempotency interceptor to every gRPC service: unary methods marked <see cref="IdempotentRpcAttribute"/>
    /// run once per <c>idempotency-key</c>, and their retries are answered from the store. Also adds Idem itself
    /// (<c>AddIdempotency()</c>, if not added yet); follow <c>services.AddIdempotency()</c> with a store.
    /// </summary>
    public static IGrpcServerBuilder AddIdempotency(this IGrpcServerBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (!builder.Services.Any(d => d.ServiceType == typeof(IIdempotentExecutor)))
        {
            // Added here only when the app has not: a second AddIdempotency() would bind the options again after the app's own code.
            builder.Services.AddIdempotency();
        }

        // One instance for every call (gRPC takes interceptors from DI before making one per call).
        builder.Services.TryAddSingleton<IdempotencyServerInterceptor>();
        builder.Services.Configure<GrpcServiceOptions>(o => o.Interceptors.Add<IdempotencyServerInterceptor>());
        return builder;
    }
}
