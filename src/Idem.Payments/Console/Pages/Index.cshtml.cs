using Idem.Payments.Auth;
using Idem.Payments.CardPayments;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Idem.Payments.Console.Pages;

/// <summary>The overview: the tenant's outcomes over the last hour, the store's health, the audit's verdict.</summary>
internal sealed class IndexModel(TenantOutcomes outcomes, HealthCheckService health, LedgerAudit audit) : PageModel
{
    public OutcomeMinute[] Minutes { get; private set; } = [];

    public bool StoreHealthy { get; private set; }

    public string? StoreDetail { get; private set; }

    public AuditResponse? Audit { get; private set; }

    public string? AuditError { get; private set; }

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var tenant = Tenants.Of(User);
        Minutes = outcomes.LastHour(tenant);
        var report = await health.CheckHealthAsync(cancellationToken).ConfigureAwait(false);
        StoreHealthy = report.Status == HealthStatus.Healthy;
        StoreDetail = string.Join("; ", report.Entries.Values.Select(e => e.Description).OfType<string>());
        try
        {
            Audit = await audit.RunAsync(tenant, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is System.Data.Common.DbException or HttpRequestException)
        {
            // The page still shows the rest; the verdict says why there is none.
            AuditError = ex.Message;
        }
    }
}
