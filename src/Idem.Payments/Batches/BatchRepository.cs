using Idem.Payments.Data;
using Idem.Payments.Transfers;

namespace Idem.Payments.Batches;

/// <summary>
/// The <c>batches</c> table and the transfers that belong to a batch; their balances and entries are the ledger's
/// (<see cref="Accounts.LedgerRepository"/>).
/// </summary>
internal sealed class BatchRepository(UnitOfWork work) : Repository(work)
{
    // 10 columns: 1,000 parameters a statement; a batch of 1,000 transfers is 10 round trips.
    private const int TransfersPerStatement = 100;

    private static readonly string[] TransferColumns =
        ["id", "tenant_id", "from_account_id", "to_account_id", "amount", "currency", "status", "created_at", "batch_id", "batch_index"];

    private const string InsertSql = """
        INSERT INTO batches (id, tenant_id, item_count, created_at)
        VALUES (@id, @tenant_id, @item_count, @created_at);
        """;

    private const string FindSql = "SELECT id, tenant_id, created_at FROM batches WHERE id = @id AND tenant_id = @tenant_id;";

    private const string ListTransfersSql = """
        SELECT id, tenant_id, from_account_id, to_account_id, amount, currency, status, created_at
        FROM transfers WHERE batch_id = @batch_id AND tenant_id = @tenant_id ORDER BY batch_index;
        """;

    /// <summary>Writes the batch and its transfers (each with its index in the batch), the transfers in a few multi-row statements.</summary>
    public async Task InsertAsync(Batch batch, CancellationToken cancellationToken)
    {
        using (var command = Command(InsertSql))
        {
            Add(command, "@id", batch.Id);
            Add(command, "@tenant_id", batch.TenantId);
            Add(command, "@item_count", batch.Transfers.Count);
            Add(command, "@created_at", batch.CreatedAt);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var indexed = batch.Transfers.Select((transfer, index) => (Transfer: transfer, Index: index)).ToList();
        foreach (var chunk in indexed.Chunk(TransfersPerStatement))
        {
            using var command = InsertRows("transfers", TransferColumns, chunk, row =>
            [
                row.Transfer.Id, row.Transfer.TenantId, row.Transfer.FromAccountId, row.Transfer.ToAccountId, row.Transfer.Amount,
                row.Transfer.Currency, row.Transfer.Status, row.Transfer.CreatedAt, batch.Id, row.Index,
            ]);
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>A tenant's batch with its transfers in batch order; null when the tenant has no such batch.</summary>
    public async Task<Batch?> FindAsync(string tenantId, string id, CancellationToken cancellationToken)
    {
        string batchId;
        DateTimeOffset createdAt;
        using (var command = Command(FindSql))
        {
            Add(command, "@id", id);
            Add(command, "@tenant_id", tenantId);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }

                batchId = reader.GetString(0);
                createdAt = reader.GetFieldValue<DateTimeOffset>(2);
            }
        }

        var transfers = new List<Transfer>();
        using (var command = Command(ListTransfersSql))
        {
            Add(command, "@batch_id", batchId);
            Add(command, "@tenant_id", tenantId);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    transfers.Add(new Transfer(
                        reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(4),
                        reader.GetString(5), reader.GetString(6), reader.GetFieldValue<DateTimeOffset>(7)));
                }
            }
        }

        return new Batch(batchId, tenantId, createdAt, transfers);
    }
}
