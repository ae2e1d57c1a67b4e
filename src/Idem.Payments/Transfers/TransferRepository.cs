using Idem.Payments.Accounts;
using Idem.Payments.Data;

namespace Idem.Payments.Transfers;

/// <summary>
/// The <c>transfers</c> table, and a transfer's whole write: its accounts' balances, its row and its entries in one round
/// trip (the ledger's other movements post through <see cref="LedgerRepository"/>).
/// </summary>
internal sealed class TransferRepository(UnitOfWork work) : Repository(work)
{

    private const string FindSql = """
        SELECT id, tenant_id, from_account_id, to_account_id, amount, currency, status, created_at
        FROM transfers WHERE id = @id AND tenant_id = @tenant_id;
        """;

    /// <summary>
    /// Writes a transfer whole in one round trip: both accounts' new balances, versions and head hashes, the transfer, and
    /// its two entries (<paramref name="debit"/> and <paramref name="credit"/>, chained by the caller from the heads it
    /// locked). Each account changes only at the version it was locked at; anything else means the locking is broken, and
    /// throwing rolls the request back.
    /// </summary>
    public async Task InsertPostedAsync(Transfer transfer, Account from, LedgerEntry debit, Account to, LedgerEntry credit, CancellationToken cancellationToken)
    {
        using var command = Command("");
        Add(command, "@from_id", from.Id);
        Add(command, "@from_version", from.Version);
        Add(command, "@from_balance", debit.BalanceAfter);
        Add(command, "@from_head", debit.Hash);
        Add(command, "@to_id", to.Id);
        Add(command, "@to_version", to.Version);
        Add(command, "@to_balance", credit.BalanceAfter);
        Add(command, "@to_head", credit.Hash);
        Add(command, "@id", transfer.Id);
        Add(command, "@tenant_id", transfer.TenantId);
        Add(command, "@amount", transfer.Amount);
        Add(command, "@currency", transfer.Currency);
        Add(command, "@status", transfer.Status);
        Add(command, "@created_at", transfer.CreatedAt);
        var entries = Rows(command, LedgerRepository.EntryInsertColumns.Length, [debit, credit], LedgerRepository.EntryValues);
        command.CommandText = $"""
            UPDATE accounts SET balance = @from_balance, version = version + 1, head_hash = @from_head WHERE id = @from_id AND version = @from_version;
            UPDATE accounts SET balance = @to_balance, version = version + 1, head_hash = @to_head WHERE id = @to_id AND version = @to_version;
            INSERT INTO transfers (id, tenant_id, from_account_id, to_account_id, amount, currency, status, created_at)
            VALUES (@id, @tenant_id, @from_id, @to_id, @amount, @currency, @status, @created_at);
            INSERT INTO ledger_entries ({LedgerRepository.EntryColumns}) VALUES {entries};
            """;
        var changed = await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        if (changed != 5)
        {
            throw new InvalidOperationException($"Transfer {transfer.Id} changed {changed} rows instead of 5: an account changed while it was locked.");
        }
    }

    public async Task<Transfer?> FindAsync(string tenantId, string id, CancellationToken cancellationToken)
    {
        using var command = Command(FindSql);
        Add(command, "@id", id);
        Add(command, "@tenant_id", tenantId);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new Transfer(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4),
                reader.GetString(5), reader.GetString(6), reader.GetFieldValue<DateTimeOffset>(7));
        }
    }
}
