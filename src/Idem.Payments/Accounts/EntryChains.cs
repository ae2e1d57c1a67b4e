using Idem.Payments.Data;

namespace Idem.Payments.Accounts;

/// <summary>
/// Recomputes every account's hash chain (<see cref="EntryHash"/>) and names what breaks it: an entry whose content no
/// longer matches its hash (a changed byte), an entry whose link does not name the entry before it (one was deleted
/// between them, or changed with its hash), an account whose head is not its newest entry (the newest was deleted).
/// Entries made before the ledger chained them (no hash) are skipped while they come first, as they always did.
/// </summary>
internal static class EntryChains
{
    private const string EntriesSql = $"SELECT {LedgerRepository.EntryColumns} FROM ledger_entries WHERE tenant_id = @t ORDER BY account_id, seq;";

    private const string HeadsSql = "SELECT id, head_hash FROM accounts WHERE tenant_id = @t;";

    /// <summary>One line per break, each starting with the id of the entry or account it is found at.</summary>
    public static async Task<List<string>> VerifyAsync(UnitOfWork work, string tenantId, CancellationToken cancellationToken)
    {
        var heads = new Dictionary<string, string?>(StringComparer.Ordinal);
        using (var command = work.Command(HeadsSql))
        {
            AddTenant(command, tenantId);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    heads[reader.GetString(0)] = reader.IsDBNull(1) ? null : reader.GetString(1);
                }
            }
        }

        var breaks = new List<string>();
        var tails = new Dictionary<string, string?>(StringComparer.Ordinal);
        using (var command = work.Command(EntriesSql))
        {
            AddTenant(command, tenantId);
            var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                string? account = null;
                string? previous = null;
                string? previousId = null;
                var chained = false;
                while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    var entry = LedgerRepository.ReadEntry(reader);
                    if (entry.AccountId != account)
                    {
                        account = entry.AccountId;
                        previous = null;
                        previousId = null;
                        chained = false;
                    }

                    if (entry.Hash is null)
                    {
                        if (chained)
                        {
                            breaks.Add($"{entry.Id}: has no hash, but entries before it are chained");
                        }

                        previousId = entry.Id;
                        continue;
                    }

                    chained = true;
                    if (!string.Equals(entry.PrevHash, previous, StringComparison.Ordinal))
                    {
                        breaks.Add(previousId is null
                            ? $"{entry.Id}: links to an entry before it, but account {account} has none: an entry was deleted before it"
                            : $"{entry.Id}: does not link to {previousId}, the entry before it: an entry between them was deleted, or {previousId} was changed");
                    }

                    if (!string.Equals(EntryHash.Compute(entry, entry.PrevHash), entry.Hash, StringComparison.Ordinal))
                    {
                        breaks.Add($"{entry.Id}: its content does not match its hash: the entry was changed");
                    }

                    previous = entry.Hash;
                    previousId = entry.Id;
                    tails[account] = entry.Hash;
                }
            }
        }

        foreach (var (account, head) in heads)
        {
            tails.TryGetValue(account, out var tail);
            if (!string.Equals(head, tail, StringComparison.Ordinal))
            {
                breaks.Add($"{account}: its head is not its newest entry: the newest entry was deleted, or the head changed");
            }
        }

        return breaks;
    }

    private static void AddTenant(System.Data.Common.DbCommand command, string tenantId)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = "@t";
        parameter.Value = tenantId;
        command.Parameters.Add(parameter);
    }
}
