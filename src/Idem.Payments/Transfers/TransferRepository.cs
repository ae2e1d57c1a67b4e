using Idem.Payments.Data;

namespace Idem.Payments.Transfers;

/// <summary>The <c>transfers</c> table; the balances and entries of a transfer are the ledger's (<see cref="Accounts.LedgerRepository"/>).</summary>
internal sealed class TransferRepository(UnitOfWork work) : Repository(work)
{
    private const string InsertSql = """
        INSERT INTO transfers (id, tenant_id, from_account_id, to_account_id, amount, currency, status, created_at)
        VALUES (@id, @tenant_id, @from_account_id, @to_account_id, @amount, @currency, @status, @created_at);
        """;

    private const string FindSql = """
        SELECT id, tenant_id, from_account_id, to_account_id, amount, currency, status, created_at
        FROM transfers WHERE id = @id AND tenant_id = @tenant_id;
        """;

    public async Task InsertAsync(Transfer transfer, CancellationToken cancellationToken)
    {
        using var command = Command(InsertSql);
        Add(command, "@id", transfer.Id);
        Add(command, "@tenant_id", transfer.TenantId);
        Add(command, "@from_account_id", transfer.FromAccountId);
        Add(command, "@to_account_id", transfer.ToAccountId);
        Add(command, "@amount", transfer.Amount);
        Add(command, "@currency", transfer.Currency);
        Add(command, "@status", transfer.Status);
        Add(command, "@created_at", transfer.CreatedAt);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
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
