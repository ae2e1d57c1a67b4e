using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Idem.Payments.Data;

/// <summary>Healthy when the database answers a query.</summary>
internal sealed class DatabaseHealthCheck(IPaymentsDatabase database) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (work.ConfigureAwait(false))
            {
                using var command = work.Command("SELECT 1;");
                await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
                return HealthCheckResult.Healthy();
            }
        }
        catch (Exception ex)
        {
            return HealthCheckResult.Unhealthy("The database did not answer.", ex);
        }
    }
}
