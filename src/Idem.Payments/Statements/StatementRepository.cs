using System.Data.Common;
using Idem.Payments.Data;

namespace Idem.Payments.Statements;

/// <summary>One line of an account's monthly statement: one event, signed from the account's side.</summary>
internal sealed record StatementLine(string TenantId, string AccountId, string Month, string EventId, string Type, long Amount, string Currency, DateTimeOffset OccurredAt);

/// <summary>The statements consumer's own table, <c>statement_lines</c>.</summary>
internal sealed class StatementRepository(UnitOfWork work) : Repository(work)
{
    private const string InsertSql = """
        INSERT INTO statement_lines (tenant_id, account_id, month, event_id, type, amount, currency, occurred_at)
        VALUES (@tenant_id, @account_id, @month, @event_id, @type, @amount, @currency, @occurred_at);
        """;

    private const string ListSql = """
        SELECT tenant_id, account_id, month, event_id, type, amount, currency, occurred_at FROM statement_lines
        WHERE tenant_id = @tenant_id AND account_id = @account_id AND month = @month
        ORDER BY occurred_at, event_id;
        """;

    public async Task InsertAsync(StatementLine line, CancellationToken cancellationToken)
    {
        using var command = Command(InsertSql);
        Add(command, "@tenant_id", line.TenantId);
        Add(command, "@account_id", line.AccountId);
        Add(command, "@month", line.Month);
        Add(command, "@event_id", line.EventId);
        Add(command, "@type", line.Type);
        Add(command, "@amount", line.Amount);
        Add(command, "@currency", line.Currency);
        Add(command, "@occurred_at", line.OccurredAt);
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    public async Task<List<StatementLine>> ListAsync(string tenantId, string accountId, string month, CancellationToken cancellationToken)
    {
        using var command = Command(ListSql);
        Add(command, "@tenant_id", tenantId);
        Add(command, "@account_id", accountId);
        Add(command, "@month", month);
        var lines = new List<StatementLine>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                lines.Add(new StatementLine(
                    reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4), reader.GetInt64(5),
                    reader.GetString(6), reader.GetFieldValue<DateTimeOffset>(7)));
            }
        }

        return lines;
    }
}
