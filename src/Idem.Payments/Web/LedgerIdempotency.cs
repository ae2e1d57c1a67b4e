using Idem.AspNetCore;
using Idem.Payments.CardPayments;
using Idem.Payments.Data;

namespace Idem.Payments.Web;

/// <summary>
/// How the ledger's one-transaction movements (deposits, transfers, holds, batches) are keyed: transactional, and in
/// group commit where <see cref="PaymentsOptions.GroupCommit"/> says so (by default on SQLite).
/// </summary>
internal static class LedgerIdempotency
{
    public static TBuilder RequireLedgerIdempotency<TBuilder>(this TBuilder builder, IEndpointRouteBuilder app)
        where TBuilder : IEndpointConventionBuilder
    {
        // Read from configuration, not the validated options: those are checked when the host starts, after mapping.
        var configuration = app.ServiceProvider.GetRequiredService<IConfiguration>();
        var groupCommit = configuration.GetValue<bool?>($"{PaymentsOptions.SectionName}:{nameof(PaymentsOptions.GroupCommit)}")
            ?? PaymentsDatabaseRegistration.ProviderOf(configuration) == DatabaseProvider.Sqlite;
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
