using Idem.Storage;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Idem.Gateway.Hosting;

/// <summary>Healthy while the store answers a read: without it every guarded request would be refused with 503.</summary>
internal sealed class StoreHealthCheck(IIdempotencyStore store) : IHealthCheck
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(2);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await store.GetAsync(StoreKey.Create("healthz", "GET", "/healthz", "probe"), timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy("The idempotency store does not answer.", ex);
        }
    }
}
