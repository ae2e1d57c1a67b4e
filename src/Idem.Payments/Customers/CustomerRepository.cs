using System.Data.Common;
using Idem.Payments.Data;

namespace Idem.Payments.Customers;

/// <summary>
/// Customers, each a single statement that commits on its own: a <c>PUT</c> or <c>DELETE</c> is idempotent by its
/// meaning, so it needs no key and no transaction around it.
/// </summary>
internal sealed class CustomerRepository(UnitOfWork work) : Repository(work)
{
    private const string Columns = "tenant_id, id, name, email, metadata, version, created_at, updated_at";

    // One statement decides between insert, update and nothing: an identical PUT changes nothing (not even the version
    // or updated_at), so repeating it leaves the same state. No row comes back when nothing changed.
    private const string UpsertSql = $"""
        INSERT INTO customers ({Columns})
        VALUES (@tenant_id, @id, @name, @email, @metadata, 1, @now, @now)
        ON CONFLICT (tenant_id, id) DO UPDATE SET
            name = excluded.name, email = excluded.email, metadata = excluded.metadata,
            version = customers.version + 1, updated_at = excluded.updated_at
        WHERE customers.name <> excluded.name OR customers.email IS DISTINCT FROM excluded.email OR customers.metadata <> excluded.metadata
        RETURNING {Columns};
        """;

    private const string FindSql = $"SELECT {Columns} FROM customers WHERE tenant_id = @tenant_id AND id = @id;";

    private const string DeleteSql = "DELETE FROM customers WHERE tenant_id = @tenant_id AND id = @id;";

    /// <summary>Creates or replaces the customer. Returns it, and whether this call created it.</summary>
    public async Task<(Customer Customer, bool Created)> UpsertAsync(
        string tenantId, string id, string name, string? email, string metadata, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // Nothing changed: the row as it is. Should a DELETE slip in between the two statements, the next upsert
        // inserts afresh, which is what the PUT after that DELETE means.
        for (var attempt = 1; ; attempt++)
        {
            using (var command = Command(UpsertSql))
            {
                Add(command, "@tenant_id", tenantId);
                Add(command, "@id", id);
                Add(command, "@name", name);
                Add(command, "@email", email);
                Add(command, "@metadata", metadata);
                Add(command, "@now", now);
                if (await ReadAsync(command, cancellationToken).ConfigureAwait(false) is { } changed)
                {
                    return (changed, changed.Version == 1);
                }
            }

            if (await FindAsync(tenantId, id, cancellationToken).ConfigureAwait(false) is { } unchanged)
            {
                return (unchanged, false);
            }

            if (attempt == 3)
            {
                throw new InvalidOperationException($"Customer {id} kept disappearing while it was written.");
            }
        }
    }

    public async Task<Customer?> FindAsync(string tenantId, string id, CancellationToken cancellationToken)
    {
        using var command = Command(FindSql);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@id", id);
        return await ReadAsync(command, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Deletes the customer; false when there was none.</summary>
    public async Task<bool> DeleteAsync(string tenantId, string id, CancellationToken cancellationToken)
    {
        using var command = Command(DeleteSql);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@id", id);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) > 0;
    }

    private static async Task<Customer?> ReadAsync(DbCommand command, CancellationToken cancellationToken)
    {
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            return new Customer(
                reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3), reader.GetString(4),
                reader.GetInt64(5), reader.GetFieldValue<DateTimeOffset>(6), reader.GetFieldValue<DateTimeOffset>(7));
        }
    }
}
