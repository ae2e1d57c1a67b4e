using Idem.Payments.Auth;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.RazorPages;

namespace Idem.Payments.Console.Pages;

/// <summary>One of the tenant's payments, its refunds, and the way to the completer's action while it waits on the processor.</summary>
internal sealed class PaymentModel(IPaymentsDatabase database) : PageModel
{
    [BindProperty(SupportsGet = true)]
    public string? Done { get; set; }

    public Payment Payment { get; private set; } = null!;

    public IReadOnlyList<Refund> Refunds { get; private set; } = [];

    /// <summary>What the completer's action did, from the redirect after it (a fixed set of words, never free text).</summary>
    public string? Result => Done switch
    {
        nameof(CompleteNowResult.Settled) => "The completer settled this payment.",
        nameof(CompleteNowResult.StillPending) => "The processor gave no final answer yet (or another node is on it): the payment stays pending.",
        nameof(CompleteNowResult.NothingToDo) => "The payment was not waiting on the processor: nothing to do.",
        _ => null,
    };

    public static bool WaitsOnProcessor(Payment payment) => payment.Status is PaymentStatus.Pending or PaymentStatus.Capturing or PaymentStatus.Canceling;

    public async Task<IActionResult> OnGetAsync(string id, CancellationToken cancellationToken)
    {
        var tenant = Tenants.Of(User);
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new PaymentRepository(work);
            if (await repository.FindPaymentAsync(tenant, id, cancellationToken).ConfigureAwait(false) is not { } payment)
            {
                return NotFound();
            }

            Payment = payment;
            Refunds = await repository.ListRefundsAsync(tenant, payment.Id, cancellationToken).ConfigureAwait(false);
            return Page();
        }
    }
}
