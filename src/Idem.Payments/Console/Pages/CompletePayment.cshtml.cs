using Idem.Payments.Auth;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>
/// The console's one action: run the completer for one of the tenant's payments now. GET asks for confirmation; the
/// POST (antiforgery-checked, signed in, the tenant's own payment or 404) runs it, logs it and goes back to the payment.
/// It is idempotent by construction (<see cref="PaymentCompleter.CompletePaymentNowAsync"/>).
/// </summary>
internal sealed class CompletePaymentModel(IPaymentsDatabase database, PaymentCompleter completer, ILogger<CompletePaymentModel> logger) : PageModel
{
    public Payment Payment { get; private set; } = null!;

    public async Task<IActionResult> OnGetAsync(string id, CancellationToken cancellationToken)
    {
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            if (await new PaymentRepository(work).FindPaymentAsync(Tenants.Of(User), id, cancellationToken).ConfigureAwait(false) is not { } payment)
            {
                return NotFound();
            }

            Payment = payment;
            return Page();
        }
    }

    public async Task<IActionResult> OnPostAsync(string id, CancellationToken cancellationToken)
    {
        var tenant = Tenants.Of(User);
        var result = await completer.CompletePaymentNowAsync(tenant, id, cancellationToken).ConfigureAwait(false);
        if (result == CompleteNowResult.NotFound)
        {
            return NotFound();
        }

        Log.ConsoleCompletedPayment(logger, tenant, id, result);
        return Redirect($"/console/payments/{Uri.EscapeDataString(id)}?done={result}");
    }
}
