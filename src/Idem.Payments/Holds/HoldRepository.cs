using System.Data.Common;
using Idem.Payments.Accounts;
using Idem.Payments.Data;

namespace Idem.Payments.Holds;

/// <summary>
/// The <c>holds</c> table, and what a hold reserves and promises on its two accounts (their pending debits and credits).
/// Expiry is the database's clock (<see cref="ISqlDialect.NowMillis"/>), never a node's.
/// </summary>
internal sealed class HoldRepository(UnitOfWork work) : Repository(work)
{
    private readonly LedgerRepository _ledger = new(work);

    private const string Columns = "id, tenant_id, from_account_id, to_account_id, amount, currency, status, captured_amount, expires_at, created_at, updated_at";

    // A hold may reserve only what the account may spend (held money and its overdraft counted), and promise only what
    // the receiving account has room for (promised money counted): the conditions are the limits, as for a debit.
    private const string ReserveSql = """
        UPDATE accounts SET pending_debits = pending_debits + @amount, version = version + 1
        WHERE id = @id AND balance - pending_debits + overdraft_limit >= @amount;
        """;

    private const string PromiseSql = """
        UPDATE accounts SET pending_credits = pending_credits + @amount, version = version + 1
        WHERE id = @id AND balance + pending_credits + @amount <= max_balance;
        """;

    private const string ReleaseSql = """
        UPDATE accounts SET pending_debits = pending_debits - @amount, version = version + 1 WHERE id = @from AND pending_debits >= @amount;
        UPDATE accounts SET pending_credits = pending_credits - @amount, version = version + 1 WHERE id = @to AND pending_credits >= @amount;
        """;

    // A capture moves the captured part and releases the whole hold in one change of each account: what the hold
    // reserved covers what it takes, so no limit can refuse it.
    private const string CaptureDebitSql = """
        UPDATE accounts SET balance = balance - @captured, pending_debits = pending_debits - @held, version = version + 1
        WHERE id = @id AND pending_debits >= @held
        RETURNING balance, head_hash;
        """;

    private const string CaptureCreditSql = """
        UPDATE accounts SET balance = balance + @captured, pending_credits = pending_credits - @held, version = version + 1
        WHERE id = @id AND pending_credits >= @held
        RETURNING balance, head_hash;
        """;

    private const string FinishSql = """
        UPDATE holds SET status = @status, captured_amount = @captured, updated_at = @now
        WHERE id = @id AND status = 'pending';
        """;

    public async Task<Hold> InsertAsync(Hold hold, long lifetimeMilliseconds, CancellationToken cancellationToken)
    {
        using var command = Command($"""
            INSERT INTO holds ({Columns})
            VALUES (@id, @tenant_id, @from_account_id, @to_account_id, @amount, @currency, 'pending', 0, {Dialect.NowMillis} + @lifetime, @now, @now)
            RETURNING expires_at;
            """);
        Add(command, "@id", hold.Id);
        Add(command, "@tenant_id", hold.TenantId);
        Add(command, "@from_account_id", hold.FromAccountId);
        Add(command, "@to_account_id", hold.ToAccountId);
        Add(command, "@amount", hold.Amount);
        Add(command, "@currency", hold.Currency);
        Add(command, "@lifetime", lifetimeMilliseconds);
        Add(command, "@now", hold.CreatedAt);
        var expiresAt = Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        return hold with { ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(expiresAt) };
    }

    public async Task<Hold?> FindAsync(string tenantId, string id, CancellationToken cancellationToken)
        => (await ReadAsync($"SELECT {Columns}, {Dialect.NowMillis} FROM holds WHERE id = @id AND tenant_id = @tenant_id;", tenantId, id, cancellationToken)
            .ConfigureAwait(false))?.Hold;

    /// <summary>
    /// Reads a hold and holds it until the transaction ends, with whether it has expired by the database's clock. Every
    /// change of a hold locks it first, then its accounts in id order: one order for captures, voids and expiry alike.
    /// </summary>
    public Task<(Hold Hold, bool Expired)?> LockAsync(string tenantId, string id, CancellationToken cancellationToken)
        => ReadAsync($"SELECT {Columns}, {Dialect.NowMillis} FROM holds WHERE id = @id AND tenant_id = @tenant_id{Dialect.LockRowsSuffix};", tenantId, id, cancellationToken);

    /// <summary>
    /// Takes the pending hold that expired first by the database's clock and locks it; a hold another node is working on
    /// is skipped, not waited for. Null when none has expired.
    /// </summary>
    public async Task<(string TenantId, string Id)?> ClaimExpiredAsync(CancellationToken cancellationToken)
    {
        using var command = Command($"""
            SELECT tenant_id, id FROM holds WHERE status = 'pending' AND expires_at <= {Dialect.NowMillis}
            ORDER BY expires_at LIMIT 1{Dialect.ClaimRowSuffix};
            """);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            return await reader.ReadAsync(cancellationToken).ConfigureAwait(false) ? (reader.GetString(0), reader.GetString(1)) : null;
        }
    }

    /// <summary>Reserves <paramref name="amount"/> on the account to debit; false (nothing changed) when it may not spend that much.</summary>
    public Task<bool> ReserveAsync(string accountId, long amount, CancellationToken cancellationToken) => ChangeOneAsync(ReserveSql, accountId, amount, cancellationToken);

    /// <summary>Promises <paramref name="amount"/> to the account to credit; false (nothing changed) when it has no room for it.</summary>
    public Task<bool> PromiseAsync(string accountId, long amount, CancellationToken cancellationToken) => ChangeOneAsync(PromiseSql, accountId, amount, cancellationToken);

    /// <summary>Gives back what a hold reserved and promised; false when the accounts do not hold it (the locking is broken).</summary>
    public async Task<bool> ReleaseAsync(Hold hold, CancellationToken cancellationToken)
    {
        using var command = Command(ReleaseSql);
        Add(command, "@from", hold.FromAccountId);
        Add(command, "@to", hold.ToAccountId);
        Add(command, "@amount", hold.Amount);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 2;
    }

    /// <summary>Posts <paramref name="captured"/> of a hold on the account it reserved money on, and releases the whole hold there.</summary>
    public Task<BalanceChange?> CaptureDebitAsync(Hold hold, long captured, CancellationToken cancellationToken)
        => _ledger.ChangeBalanceAsync(CaptureDebitSql, cancellationToken, ("@id", hold.FromAccountId), ("@captured", captured), ("@held", hold.Amount));

    /// <summary>Posts <paramref name="captured"/> of a hold on the account it promised money to, and releases the whole promise there.</summary>
    public Task<BalanceChange?> CaptureCreditAsync(Hold hold, long captured, CancellationToken cancellationToken)
        => _ledger.ChangeBalanceAsync(CaptureCreditSql, cancellationToken, ("@id", hold.ToAccountId), ("@captured", captured), ("@held", hold.Amount));

    /// <summary>Moves a pending hold to a final status; false when it was not pending.</summary>
    public async Task<bool> FinishAsync(string id, string status, long captured, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var command = Command(FinishSql);
        Add(command, "@id", id);
        Add(command, "@status", status);
        Add(command, "@captured", captured);
        Add(command, "@now", now);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private async Task<bool> ChangeOneAsync(string sql, string accountId, long amount, CancellationToken cancellationToken)
    {
        using var command = Command(sql);
        Add(command, "@id", accountId);
        Add(command, "@amount", amount);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private async Task<(Hold Hold, bool Expired)?> ReadAsync(string sql, string tenantId, string id, CancellationToken cancellationToken)
    {
        using var command = Command(sql);
        Add(command, "@id", id);
        Add(command, "@tenant_id", tenantId);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            var hold = Read(reader);
            return (hold, hold.Status == HoldStatus.Pending && hold.ExpiresAt.ToUnixTimeMilliseconds() <= reader.GetInt64(11));
        }
    }

    private static Hold Read(DbDataReader reader)
        => new(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4), reader.GetString(5), reader.GetString(6),
            reader.GetInt64(7), DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(8)), reader.GetFieldValue<DateTimeOffset>(9), reader.GetFieldValue<DateTimeOffset>(10));
}
