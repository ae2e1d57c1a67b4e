using Idem.AspNetCore;
using Idem.Payments.CardPayments;

namespace Idem.Payments.Web;

/// <summary>How the ledger's one-transaction movements (deposits, transfers, holds) are keyed: transactional, in group commit unless turned off.</summary>
internal static class LedgerIdempotency
{
    public static TBuilder RequireLedgerIdempotency<TBuilder>(this TBuilder builder, IEndpointRouteBuilder app)
        where TBuilder : IEndpointConventionBuilder
    {
        // Read from configuration, not the validated options: those are checked when the host starts, after mapping.
        var groupCommit = app.ServiceProvider.GetRequiredService<IConfiguration>()
            .GetValue($"{PaymentsOptions.SectionName}:{nameof(PaymentsOptions.GroupCommit)}", new PaymentsOptions().GroupCommit);
        return builder.RequireIdempotency(p =>
        {
            p.Transactional();
            if (groupCommit)
            {
                p.GroupCommit();
            }
        });
    }
}
