using Idem.Payments.Auth;
using Idem.Payments.CardPayments;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>Every check of <c>GET /v1/ledger/audit</c>, failing ones first, with what fails.</summary>
internal sealed class AuditModel(LedgerAudit audit) : PageModel
{
    public AuditResponse Audit { get; private set; } = null!;

    public async Task OnGetAsync(CancellationToken cancellationToken) => Audit = await audit.RunAsync(Tenants.Of(User), cancellationToken).ConfigureAwait(false);
}
