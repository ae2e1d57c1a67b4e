using Idem.Payments.Auth;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;
using Microsoft.AspNetCore.Mvc.RazorPages;
using Microsoft.Extensions.Options;

namespace Idem.Payments.Console.Pages;

/// <summary>
/// The tenant's payments and refunds with their processor state (the audit's queries), and the completer's backlog
/// among them: what still waits on the processor.
/// </summary>
internal sealed class PaymentsModel(IPaymentsDatabase database, IOptions<PaymentsOptions> options, TimeProvider time) : PageModel
{
    private const int Shown = 200;

    private ILookup<string, Refund> _refunds = Array.Empty<Refund>().ToLookup(r => r.PaymentId);

    public IReadOnlyList<Payment> Payments { get; private set; } = [];

    public IReadOnlyList<Payment> BacklogPayments { get; private set; } = [];

    public IReadOnlyList<Refund> BacklogRefunds { get; private set; } = [];

    public TimeSpan AbandonedAfter => options.Value.AbandonedAfter;

    public TimeSpan CompleterInterval => options.Value.CompleterInterval;

    public IEnumerable<Refund> RefundsOf(string paymentId) => _refunds[paymentId];

    public bool IsDue(DateTimeOffset since) => time.GetUtcNow() - since >= options.Value.AbandonedAfter;

    public async Task OnGetAsync(CancellationToken cancellationToken)
    {
        var tenant = Tenants.Of(User);
        List<Payment> payments;
        List<Refund> refunds;
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            var repository = new PaymentRepository(work);
            payments = await repository.ListPaymentsAsync(tenant, cancellationToken).ConfigureAwait(false);
            refunds = await repository.ListAllRefundsAsync(tenant, cancellationToken).ConfigureAwait(false);
        }

        _refunds = refunds.ToLookup(r => r.PaymentId);
        Payments = Enumerable.Reverse(payments).Take(Shown).ToList();
        BacklogPayments = payments.Where(p => p.Status is PaymentStatus.Pending or PaymentStatus.Capturing or PaymentStatus.Canceling).ToList();
        BacklogRefunds = refunds.Where(r => r.Status == RefundStatus.Pending).ToList();
    }
}
