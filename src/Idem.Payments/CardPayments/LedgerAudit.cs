using System.Net.Http.Json;
using Idem.Payments.Accounts;
using Idem.Payments.Data;
using Idem.Payments.Processor;

namespace Idem.Payments.CardPayments;

/// <summary>
/// Checks every invariant of a tenant's ledger against its own rows and against the processor's record of what it
/// really charged and refunded, and says which fails.
/// </summary>
internal sealed class LedgerAudit(IPaymentsDatabase database, IHttpClientFactory clients)
{
    private static readonly (string Name, string Description, string Sql)[] Checks =
    [
        ("entries_sum_to_zero", "The entries of each currency sum to zero.",
            "SELECT currency FROM ledger_entries WHERE tenant_id = @t GROUP BY currency HAVING SUM(amount) <> 0"),
        ("balances_match_entries", "Each account's balance equals the sum of its entries.",
            """
            SELECT a.id FROM accounts a
            LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_entries WHERE tenant_id = @t GROUP BY account_id) e ON e.account_id = a.id
            WHERE a.tenant_id = @t AND a.balance <> COALESCE(e.total, 0)
            """),
        ("balances_within_limits", "No account is below its overdraft limit or above its cap, held and promised money counted.",
            "SELECT id FROM accounts WHERE tenant_id = @t AND (balance - pending_debits < -overdraft_limit OR balance + pending_credits > max_balance)"),
        ("holds_match_pending", "Each account's held and promised money equals what its pending holds reserve and promise.",
            """
            SELECT a.id FROM accounts a
            LEFT JOIN (SELECT from_account_id, SUM(amount) AS total FROM holds WHERE tenant_id = @t AND status = 'pending' GROUP BY from_account_id) d ON d.from_account_id = a.id
            LEFT JOIN (SELECT to_account_id, SUM(amount) AS total FROM holds WHERE tenant_id = @t AND status = 'pending' GROUP BY to_account_id) c ON c.to_account_id = a.id
            WHERE a.tenant_id = @t AND (a.pending_debits <> COALESCE(d.total, 0) OR a.pending_credits <> COALESCE(c.total, 0))
            """),
        ("holds_captured_once", "Each captured hold has its two entries for the captured amount, and no other hold has any.",
            """
            SELECT h.id FROM holds h
            LEFT JOIN (SELECT movement_id, COUNT(*) AS n, SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS moved
                       FROM ledger_entries WHERE tenant_id = @t AND movement_type = 'hold_capture' GROUP BY movement_id) e ON e.movement_id = h.id
            WHERE h.tenant_id = @t AND (COALESCE(e.n, 0) <> CASE WHEN h.status = 'captured' THEN 2 ELSE 0 END
                                        OR (h.status = 'captured' AND e.moved <> h.captured_amount))
            """),
        ("batches_complete", "Each batch has every one of its transfers, each with its two entries.",
            """
            SELECT b.id FROM batches b
            LEFT JOIN (SELECT t.batch_id, COUNT(*) AS n FROM transfers t WHERE t.tenant_id = @t AND t.batch_id IS NOT NULL GROUP BY t.batch_id) t ON t.batch_id = b.id
            LEFT JOIN (SELECT t.batch_id, COUNT(*) AS n FROM transfers t JOIN ledger_entries e ON e.movement_id = t.id
                       WHERE t.tenant_id = @t AND t.batch_id IS NOT NULL GROUP BY t.batch_id) e ON e.batch_id = b.id
            WHERE b.tenant_id = @t AND (COALESCE(t.n, 0) <> b.item_count OR COALESCE(e.n, 0) <> 2 * b.item_count)
            """),
        ("refunds_within_payments", "Each payment's refunds (failed ones aside) add up to its refunded amount, never more than the payment captured.",
            """
            SELECT p.id FROM payments p
            LEFT JOIN (SELECT payment_id, SUM(amount) AS total FROM refunds WHERE tenant_id = @t AND status <> 'failed' GROUP BY payment_id) r ON r.payment_id = p.id
            WHERE p.tenant_id = @t AND (p.refunded > p.amount_captured OR p.refunded <> COALESCE(r.total, 0))
            """),
        // A manual payment is posted once, at its capture, for the amount captured; until then (and if it is canceled or
        // expires) it has no entries.
        ("payments_posted_once", "Each succeeded payment has its two ledger entries, for the amount it captured, and no other payment has any.",
            """
            SELECT p.id FROM payments p
            LEFT JOIN (SELECT movement_id, COUNT(*) AS n, SUM(CASE WHEN amount > 0 THEN amount ELSE 0 END) AS moved
                       FROM ledger_entries WHERE tenant_id = @t AND movement_type = 'payment' GROUP BY movement_id) e ON e.movement_id = p.id
            WHERE p.tenant_id = @t AND (COALESCE(e.n, 0) <> CASE WHEN p.status = 'succeeded' THEN 2 ELSE 0 END
                                        OR (p.status = 'succeeded' AND e.moved <> p.amount_captured))
            """),
        ("refunds_posted_once", "Each refund has its two ledger entries, and each failed refund, and no other, the two that reverse them.",
            """
            SELECT r.id FROM refunds r
            LEFT JOIN (SELECT movement_id, COUNT(*) AS n FROM ledger_entries WHERE tenant_id = @t AND movement_type = 'refund' GROUP BY movement_id) e ON e.movement_id = r.id
            LEFT JOIN (SELECT movement_id, COUNT(*) AS n FROM ledger_entries WHERE tenant_id = @t AND movement_type = 'refund_reversal' GROUP BY movement_id) v ON v.movement_id = r.id
            WHERE r.tenant_id = @t AND (COALESCE(e.n, 0) <> 2 OR COALESCE(v.n, 0) <> CASE WHEN r.status = 'failed' THEN 2 ELSE 0 END)
            """),
    ];

    public async Task<AuditResponse> RunAsync(string tenantId, CancellationToken cancellationToken)
    {
        var results = new List<AuditCheck>();
        List<Payment> payments;
        List<Refund> refunds;
        var work = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (work.ConfigureAwait(false))
        {
            foreach (var (name, description, sql) in Checks)
            {
                var failures = await ListAsync(work, sql, tenantId, cancellationToken).ConfigureAwait(false);
                results.Add(new AuditCheck(name, failures.Count == 0, description, failures));
            }

            var broken = await EntryChains.VerifyAsync(work, tenantId, cancellationToken).ConfigureAwait(false);
            results.Add(new AuditCheck("entry_chains_intact",
                broken.Count == 0,
                "Each account's entries form an unbroken hash chain: every entry matches its hash, links to the entry before it, and the newest is the account's head.",
                broken));

            var repository = new PaymentRepository(work);
            payments = await repository.ListPaymentsAsync(tenantId, cancellationToken).ConfigureAwait(false);
            refunds = await repository.ListAllRefundsAsync(tenantId, cancellationToken).ConfigureAwait(false);
        }

        var http = clients.CreateClient(ProcessorClient.HttpClientName);
        var charges = await http.GetFromJsonAsync("v1/charges", ProcessorJsonContext.Default.ListChargeRecord, cancellationToken).ConfigureAwait(false) ?? [];
        var processorRefunds = await http.GetFromJsonAsync("v1/refunds", ProcessorJsonContext.Default.ListRefundRecord, cancellationToken).ConfigureAwait(false) ?? [];

        // One to one: a succeeded payment has exactly one succeeded charge, its own, which took what the payment captured;
        // any other payment none (an authorisation awaiting capture, canceled or expired took nothing). A payment whose
        // outcome is being settled (pending, capturing, canceling) may already have its charge or capture and is not a failure.
        var chargesByPayment = charges.Where(c => c.Status == "succeeded").ToLookup(c => c.Reference, StringComparer.Ordinal);
        var chargeFailures = payments.Where(p => !IsUnsettled(p) && !ChargedAsRecorded(p, [.. chargesByPayment[p.Id]])).Select(p => p.Id).ToList();
        results.Add(new AuditCheck("processor_charges_match_payments", chargeFailures.Count == 0,
            "The processor charged each succeeded payment exactly once, for the amount it captured, and took nothing for any other payment.", chargeFailures));

        var refundsByReference = processorRefunds.ToLookup(r => r.Reference, StringComparer.Ordinal);
        var refundFailures = refunds
            .Where(r => r.Status != RefundStatus.Pending && refundsByReference[r.Id].Count() != (r.Status == RefundStatus.Succeeded ? 1 : 0))
            .Select(r => r.Id).ToList();
        results.Add(new AuditCheck("processor_refunds_match_refunds", refundFailures.Count == 0,
            "The processor refunded each succeeded refund exactly once, and no failed refund.", refundFailures));

        return new AuditResponse(results.TrueForAll(r => r.Ok), results,
            payments.Count(IsUnsettled), refunds.Count(r => r.Status == RefundStatus.Pending));
    }

    private static bool ChargedAsRecorded(Payment payment, List<ChargeRecord> succeeded) => payment.Status == PaymentStatus.Succeeded
        ? succeeded is [var charge] && charge.Id == payment.ChargeId && charge.Captured == payment.AmountCaptured
        : succeeded.Count == 0;

    private static bool IsUnsettled(Payment payment) => payment.Status is PaymentStatus.Pending or PaymentStatus.Capturing or PaymentStatus.Canceling;

    private static async Task<List<string>> ListAsync(UnitOfWork work, string sql, string tenantId, CancellationToken cancellationToken)
    {
        using var command = work.Command(sql);
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@t";
        parameter.Value = tenantId;
        command.Parameters.Add(parameter);
        var values = new List<string>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                values.Add(reader.GetString(0));
            }
        }

        return values;
    }
}
