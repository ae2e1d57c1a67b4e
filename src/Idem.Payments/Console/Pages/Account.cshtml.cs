using Idem.Payments.Accounts;
using Idem.Payments.Auth;
using Idem.Payments.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>
/// One of the tenant's accounts and its entries, newest first, a page at a time: the same queries as
/// <c>GET /v1/accounts/{id}/entries</c>, paged after an entry id. Another tenant's account is 404.
/// </summary>
internal sealed class AccountModel(IPaymentsDatabase database) : PageModel
{
    public const int PageSize = 20;

    [BindProperty(SupportsGet = true)]
    public string? After { get; set; }

    public Account Account { get; private set; } = null!;

    public IReadOnlyList<LedgerEntry> Entries { get; private set; } = [];

    public string? NextAfter { get; private set; }

    public string? Error { get; private set; }

    public async Task<IActionResult> OnGetAsync(string id, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new LedgerRepository(work);
            if (await repository.FindAccountAsync(Tenants.Of(User), id, cancellationToken).ConfigureAwait(false) is not { } account)
            {
                return NotFound();
            }

            Account = account;
            long? before = null;
            if (!string.IsNullOrEmpty(After))
            {
                before = await repository.FindEntryPositionAsync(account.Id, After, cancellationToken).ConfigureAwait(false);
                if (before is null)
                {
                    Error = "That entry is not one of this account's: start again from the newest.";
                    return Page();
                }
            }

            // One more than shown tells whether an older page follows.
            var entries = await repository.ListEntriesAsync(account.Id, before, null, null, PageSize + 1, cancellationToken).ConfigureAwait(false);
            if (entries.Count > PageSize)
            {
                entries.RemoveAt(entries.Count - 1);
                NextAfter = entries[^1].Id;
            }

            Entries = entries;
            return Page();
        }
    }
}
