using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>The tenant's accounts with their balances.</summary>
internal sealed class AccountsModel(IPaymentsDatabase database) : PageModel
{
    public const int Limit = 500;

    public IReadOnlyList<Account> Accounts { get; private set; } = [];

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            Accounts = await new LedgerRepository(work).ListAccountsAsync(Tenants.Of(User), Limit, cancellationToken).ConfigureAwait(false);
        }
    }
}
