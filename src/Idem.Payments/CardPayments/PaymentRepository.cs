using System.Data.Common;
using Idem.Payments.Data;

namespace Idem.Payments.CardPayments;

/// <summary>
/// Payments and refunds, in the unit of work it is given. Every state change is one conditional statement, so a request
/// resuming a payment and the background completer can race on it and only one of them moves it.
/// </summary>
internal sealed class PaymentRepository(UnitOfWork work) : Repository(work)
{
    private const string PaymentColumns = "id, tenant_id, account_id, amount, currency, source, status, idempotency_key, charge_id, decline_code, refunded, created_at, fingerprint, "
        + "capture_method, amount_captured, authorization_expires_at, capture_amount, capture_key, capture_fingerprint, cancel_key, cancel_fingerprint";

    private const string RefundColumns = "id, tenant_id, payment_id, amount, currency, status, idempotency_key, processor_refund_id, created_at, fingerprint";

    // A key reused after its record expired finds the payment it made the first time.
    private const string InsertPaymentSql = """
        INSERT INTO payments (id, tenant_id, account_id, amount, currency, source, status, idempotency_key, refunded, created_at, updated_at, fingerprint, capture_method)
        VALUES (@id, @tenant_id, @account_id, @amount, @currency, @source, 'pending', @idempotency_key, 0, @created_at, @created_at, @fingerprint, @capture_method)
        ON CONFLICT (tenant_id, idempotency_key) DO NOTHING;
        """;

    // Only a pending payment takes an outcome: whoever records it first wins, the other changes nothing. A success takes
    // the whole amount; an authorisation (manual capture) takes nothing yet and records when it lapses.
    private const string SettlePaymentSql = """
        UPDATE payments SET status = @status, charge_id = @charge_id, decline_code = @decline_code,
            amount_captured = CASE WHEN @status = 'succeeded' THEN amount ELSE 0 END, authorization_expires_at = @authorization_expires_at, updated_at = @now
        WHERE id = @id AND status = 'pending';
        """;

    // The rule "refunds never exceed what was captured", as one statement.
    private const string ReserveRefundSql = """
        UPDATE payments SET refunded = refunded + @amount, updated_at = @now
        WHERE id = @id AND tenant_id = @tenant_id AND status = 'succeeded' AND refunded + @amount <= amount_captured;
        """;

    // Capture, cancel and expiry race for an authorised payment; each is this one conditional update of its status, so
    // exactly one of them moves it out of requires_capture and the others change nothing. Neither a capture nor a cancel
    // may start once the authorisation has lapsed (by this service's clock; the processor's refusal covers the rest).
    private const string RequestCaptureSql = """
        UPDATE payments SET status = 'capturing', capture_amount = @amount, capture_key = @key, capture_fingerprint = @fingerprint, updated_at = @now
        WHERE id = @id AND tenant_id = @tenant_id AND status = 'requires_capture' AND authorization_expires_at > @now;
        """;

    private const string RequestCancelSql = """
        UPDATE payments SET status = 'canceling', cancel_key = @key, cancel_fingerprint = @fingerprint, updated_at = @now
        WHERE id = @id AND tenant_id = @tenant_id AND status = 'requires_capture' AND authorization_expires_at > @now;
        """;

    private const string ExpirePaymentSql = """
        UPDATE payments SET status = 'expired', updated_at = @now
        WHERE id = @id AND status = 'requires_capture' AND authorization_expires_at <= @now;
        """;

    private const string ExpireAuthorizationsSql = """
        UPDATE payments SET status = 'expired', updated_at = @now
        WHERE id IN (SELECT id FROM payments WHERE status = 'requires_capture' AND authorization_expires_at <= @now ORDER BY authorization_expires_at LIMIT @limit)
          AND status = 'requires_capture' AND authorization_expires_at <= @now;
        """;

    // Phase three of a capture: whoever records the processor's capture first posts it; the other changes nothing.
    private const string SettleCaptureSql = """
        UPDATE payments SET status = 'succeeded', amount_captured = capture_amount, updated_at = @now
        WHERE id = @id AND status = 'capturing';
        """;

    // Phase three of a capture the processor refused as expired, or of a cancel: a final status with no money.
    private const string FinishSql = """
        UPDATE payments SET status = @to, updated_at = @now
        WHERE id = @id AND status = @from;
        """;

    private const string InsertRefundSql = """
        INSERT INTO refunds (id, tenant_id, payment_id, amount, currency, status, idempotency_key, created_at, updated_at, fingerprint)
        VALUES (@id, @tenant_id, @payment_id, @amount, @currency, 'pending', @idempotency_key, @created_at, @created_at, @fingerprint);
        """;

    private const string SettleRefundSql = """
        UPDATE refunds SET status = 'succeeded', processor_refund_id = @processor_refund_id, updated_at = @now
        WHERE id = @id AND status = 'pending';
        """;

    private const string FailRefundSql = """
        UPDATE refunds SET status = 'failed', updated_at = @now
        WHERE id = @id AND status = 'pending';
        """;

    // Gives a failed refund's reservation back; the CHECK on refunded keeps it from going below zero.
    private const string ReleaseRefundSql = """
        UPDATE payments SET refunded = refunded - @amount, updated_at = @now
        WHERE id = @id AND tenant_id = @tenant_id AND refunded >= @amount;
        """;

    public async Task<bool> InsertPaymentAsync(Payment payment, CancellationToken cancellationToken)
    {
        using var command = Command(InsertPaymentSql);
        Add(command, "@id", payment.Id);
        Add(command, "@tenant_id", payment.TenantId);
        Add(command, "@account_id", payment.AccountId);
        Add(command, "@amount", payment.Amount);
        Add(command, "@currency", payment.Currency);
        Add(command, "@source", payment.Source);
        Add(command, "@idempotency_key", payment.IdempotencyKey);
        Add(command, "@created_at", payment.CreatedAt);
        Add(command, "@fingerprint", payment.Fingerprint);
        Add(command, "@capture_method", payment.CaptureMethod);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    public Task<Payment?> FindPaymentAsync(string tenantId, string id, CancellationToken cancellationToken)
        => ReadPaymentAsync($"SELECT {PaymentColumns} FROM payments WHERE id = @a AND tenant_id = @b", id, tenantId, cancellationToken);

    /// <summary>The payment, its row locked until the transaction ends (on PostgreSQL; SQLite's write transaction holds everything).</summary>
    public Task<Payment?> LockPaymentAsync(string tenantId, string id, CancellationToken cancellationToken)
        => ReadPaymentAsync($"SELECT {PaymentColumns} FROM payments WHERE id = @a AND tenant_id = @b{Dialect.LockRowsSuffix}", id, tenantId, cancellationToken);

    public Task<Payment?> FindPaymentByKeyAsync(string tenantId, string idempotencyKey, CancellationToken cancellationToken)
        => ReadPaymentAsync($"SELECT {PaymentColumns} FROM payments WHERE idempotency_key = @a AND tenant_id = @b", idempotencyKey, tenantId, cancellationToken);

    public async Task<bool> SettlePaymentAsync(
        string id, string status, string? chargeId, string? declineCode, DateTimeOffset? authorizationExpiresAt, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(SettlePaymentSql);
        Add(command, "@id", id);
        Add(command, "@status", status);
        Add(command, "@charge_id", chargeId);
        Add(command, "@decline_code", declineCode);
        Add(command, "@authorization_expires_at", authorizationExpiresAt);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Moves an authorised, unexpired payment to <c>capturing</c> for this capture request; false when it was not (someone else won, or it lapsed).</summary>
    public async Task<bool> RequestCaptureAsync(string tenantId, string id, long amount, Accounts.Origin origin, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(RequestCaptureSql);
        Add(command, "@id", id);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@amount", amount);
        Add(command, "@key", origin.Key);
        Add(command, "@fingerprint", origin.Fingerprint);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Moves an authorised, unexpired payment to <c>canceling</c> for this cancel request; false when it was not.</summary>
    public async Task<bool> RequestCancelAsync(string tenantId, string id, Accounts.Origin origin, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(RequestCancelSql);
        Add(command, "@id", id);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@key", origin.Key);
        Add(command, "@fingerprint", origin.Fingerprint);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Marks an authorised payment whose authorisation has lapsed <c>expired</c>; false when it was not such a payment.</summary>
    public async Task<bool> ExpirePaymentAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(ExpirePaymentSql);
        Add(command, "@id", id);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Marks up to <paramref name="limit"/> lapsed authorisations <c>expired</c>; returns how many.</summary>
    public async Task<int> ExpireAuthorizationsAsync(DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        using var command = Command(ExpireAuthorizationsSql);
        Add(command, "@now", now);
        Add(command, "@limit", limit);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Marks a capturing payment succeeded with the amount it asked for; false when it was no longer capturing.</summary>
    public async Task<bool> SettleCaptureAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(SettleCaptureSql);
        Add(command, "@id", id);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Moves a payment from <paramref name="from"/> to <paramref name="to"/>; false when it was not in <paramref name="from"/>.</summary>
    public async Task<bool> FinishAsync(string id, string from, string to, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(FinishSql);
        Add(command, "@id", id);
        Add(command, "@from", from);
        Add(command, "@to", to);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    public Task<bool> ReserveRefundAsync(string tenantId, string paymentId, long amount, DateTimeOffset now, CancellationToken cancellationToken)
        => ChangeRefundedAsync(ReserveRefundSql, tenantId, paymentId, amount, now, cancellationToken);

    public async Task InsertRefundAsync(Refund refund, CancellationToken cancellationToken)
    {
        using var command = Command(InsertRefundSql);
        Add(command, "@id", refund.Id);
        Add(command, "@tenant_id", refund.TenantId);
        Add(command, "@payment_id", refund.PaymentId);
        Add(command, "@amount", refund.Amount);
        Add(command, "@currency", refund.Currency);
        Add(command, "@idempotency_key", refund.IdempotencyKey);
        Add(command, "@created_at", refund.CreatedAt);
        Add(command, "@fingerprint", refund.Fingerprint);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<bool> SettleRefundAsync(string id, string processorRefundId, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(SettleRefundSql);
        Add(command, "@id", id);
        Add(command, "@processor_refund_id", processorRefundId);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Marks a pending refund failed; false when it was not pending (someone settled or failed it first).</summary>
    public async Task<bool> FailRefundAsync(string id, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(FailRefundSql);
        Add(command, "@id", id);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    /// <summary>Takes a failed refund's amount off the payment's refunded total.</summary>
    public Task<bool> ReleaseRefundAsync(string tenantId, string paymentId, long amount, DateTimeOffset now, CancellationToken cancellationToken)
        => ChangeRefundedAsync(ReleaseRefundSql, tenantId, paymentId, amount, now, cancellationToken);

    public async Task<Refund?> FindRefundByKeyAsync(string tenantId, string idempotencyKey, CancellationToken cancellationToken)
        => (await ReadRefundsAsync($"SELECT {RefundColumns} FROM refunds WHERE idempotency_key = @a AND tenant_id = @b", idempotencyKey, tenantId, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    public Task<List<Refund>> ListRefundsAsync(string tenantId, string paymentId, CancellationToken cancellationToken)
        => ReadRefundsAsync($"SELECT {RefundColumns} FROM refunds WHERE payment_id = @a AND tenant_id = @b ORDER BY created_at, id", paymentId, tenantId, cancellationToken);

    /// <summary>Every payment of the tenant (for the audit).</summary>
    public async Task<List<Payment>> ListPaymentsAsync(string tenantId, CancellationToken cancellationToken)
    {
        using var command = Command($"SELECT {PaymentColumns} FROM payments WHERE tenant_id = @a ORDER BY created_at, id");
        Add(command, "@a", tenantId);
        return await ReadPaymentsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every refund of the tenant (for the audit).</summary>
    public Task<List<Refund>> ListAllRefundsAsync(string tenantId, CancellationToken cancellationToken)
        => ReadRefundsAsync($"SELECT {RefundColumns} FROM refunds WHERE tenant_id = @a ORDER BY created_at, id", tenantId, null, cancellationToken);

    /// <summary>Payments still pending that were created before <paramref name="before"/>: abandoned at their recovery point.</summary>
    public async Task<List<Payment>> ListPendingPaymentsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken)
    {
        using var command = Command($"SELECT {PaymentColumns} FROM payments WHERE status = 'pending' AND created_at < @a ORDER BY created_at LIMIT @b");
        Add(command, "@a", before);
        Add(command, "@b", limit);
        return await ReadPaymentsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Captures and cancels still asking the processor that were requested before <paramref name="before"/>: abandoned at their recovery point.</summary>
    public async Task<List<Payment>> ListInFlightPaymentsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken)
    {
        using var command = Command($"SELECT {PaymentColumns} FROM payments WHERE status IN ('capturing', 'canceling') AND updated_at < @a ORDER BY updated_at LIMIT @b");
        Add(command, "@a", before);
        Add(command, "@b", limit);
        return await ReadPaymentsAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Refunds still pending that were created before <paramref name="before"/>.</summary>
    public Task<List<Refund>> ListPendingRefundsAsync(DateTimeOffset before, int limit, CancellationToken cancellationToken)
        => ReadRefundsAsync($"SELECT {RefundColumns} FROM refunds WHERE status = 'pending' AND created_at < @a ORDER BY created_at LIMIT @b", before, limit, cancellationToken);

    private async Task<Payment?> ReadPaymentAsync(string sql, object a, object b, CancellationToken cancellationToken)
    {
        using var command = Command(sql);
        Add(command, "@a", a);
        Add(command, "@b", b);
        return (await ReadPaymentsAsync(command, cancellationToken).ConfigureAwait(false)).SingleOrDefault();
    }

    private static async Task<List<Payment>> ReadPaymentsAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var payments = new List<Payment>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                payments.Add(new Payment(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4), reader.GetString(5),
                    reader.GetString(6), reader.GetString(7), Text(reader, 8), Text(reader, 9),
                    reader.GetInt64(10), reader.GetFieldValue<DateTimeOffset>(11), Text(reader, 12),
                    reader.GetString(13), reader.GetInt64(14), reader.IsDBNull(15) ? null : reader.GetFieldValue<DateTimeOffset>(15),
                    reader.IsDBNull(16) ? null : reader.GetInt64(16), Text(reader, 17), Text(reader, 18), Text(reader, 19), Text(reader, 20)));
            }
        }

        return payments;

        static string? Text(DbDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
    }

    // Reserving and releasing are the same conditional update of payments.refunded, in opposite directions.
    private async Task<bool> ChangeRefundedAsync(string sql, string tenantId, string paymentId, long amount, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(sql);
        Add(command, "@id", paymentId);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@amount", amount);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private async Task<List<Refund>> ReadRefundsAsync(string sql, object a, object? b, CancellationToken cancellationToken)
    {
        using var command = Command(sql);
        Add(command, "@a", a);
        if (b is not null)
        {
            Add(command, "@b", b);
        }

        var refunds = new List<Refund>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                refunds.Add(new Refund(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4), reader.GetString(5),
                    reader.GetString(6), reader.IsDBNull(7) ? null : reader.GetString(7), reader.GetFieldValue<DateTimeOffset>(8),
                    reader.IsDBNull(9) ? null : reader.GetString(9)));
            }
        }

        return refunds;
    }
}
