using System.Globalization;
using System.Text.Json;

namespace Idem.PaymentsLoad;

/// <summary>
/// After a run: was every transfer the service answered 201 applied exactly once, and nothing else? The transfer rows of
/// the tenant must be exactly the ids answered (read from the database; from the accounts' entries when only the API is
/// in reach), each account's balance its funding plus what the 201s credited less what they debited, and the ledger's own
/// audit clean.
/// </summary>
internal static class LedgerCheck
{
    private const int ShownAtMost = 5;

    public static async Task<List<string>> RunAsync(
        PaymentsClient client, PaymentsTarget target, string[] accounts, long funding, IReadOnlyList<SentTransfer> sent, int parallelism,
        CancellationToken cancellationToken)
    {
        var failures = new List<string>();
        var culture = CultureInfo.InvariantCulture;

        var unknown = sent.Where(t => !PaymentsClient.IsFinal(t.Status)).ToList();
        if (unknown.Count > 0)
        {
            failures.Add(string.Create(culture, $"{unknown.Count} transfers never got a final answer, such as key {unknown[0].Key} (last status {unknown[0].Status})."));
        }

        var applied = sent.Where(t => t.Status == 201).ToList();
        var answered = applied.Select(t => t.TransferId!).ToHashSet(StringComparer.Ordinal);
        if (answered.Count != applied.Count)
        {
            failures.Add(string.Create(culture, $"{applied.Count} keys were answered 201 with only {answered.Count} distinct transfer ids."));
        }

        var rows = await target.TransferIdsAsync(client.TenantId, cancellationToken);
        if (rows is not null)
        {
            CompareIds("transfer rows", rows, answered, failures);
        }
        else
        {
            // No database in reach: every answered transfer must have its two entries, and no other transfer any.
            var entries = await TransferEntriesAsync(client, accounts, parallelism, cancellationToken);
            CompareIds("transfers among the accounts' entries", entries.Keys, answered, failures);
            var notTwo = entries.Where(e => e.Value != 2).Select(e => e.Key).ToList();
            if (notTwo.Count > 0)
            {
                failures.Add(string.Create(culture, $"{notTwo.Count} transfers do not have exactly two entries: {Shown(notTwo)}."));
            }
        }

        var expected = new long[accounts.Length];
        Array.Fill(expected, funding);
        foreach (var transfer in applied)
        {
            expected[transfer.From] -= 1;
            expected[transfer.To] += 1;
        }

        var balances = new long[accounts.Length];
        await Parallel.ForAsync(0, accounts.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, token) =>
            balances[i] = (await client.GetJsonAsync($"/v1/accounts/{accounts[i]}", token)).GetProperty("balance").GetInt64());
        var wrong = Enumerable.Range(0, accounts.Length).Where(i => balances[i] != expected[i])
            .Select(i => string.Create(culture, $"{accounts[i]} holds {balances[i]}, expected {expected[i]}")).ToList();
        if (wrong.Count > 0)
        {
            failures.Add(string.Create(culture, $"{wrong.Count} balances do not add up: {Shown(wrong)}."));
        }

        var audit = await client.GetJsonAsync("/v1/ledger/audit", cancellationToken);
        if (!audit.GetProperty("ok").GetBoolean())
        {
            var failed = audit.GetProperty("checks").EnumerateArray().Where(c => !c.GetProperty("ok").GetBoolean()).Select(c => c.GetRawText()).ToList();
            failures.Add($"The ledger's audit failed: {Shown(failed)}.");
        }

        return failures;
    }

    private static void CompareIds(string what, IEnumerable<string> found, HashSet<string> answered, List<string> failures)
    {
        var stored = found.ToHashSet(StringComparer.Ordinal);
        var missing = answered.Where(id => !stored.Contains(id)).ToList();
        var extra = stored.Where(id => !answered.Contains(id)).ToList();
        if (missing.Count > 0)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{missing.Count} transfers answered 201 are missing from the {what}: {Shown(missing)}."));
        }

        if (extra.Count > 0)
        {
            failures.Add(string.Create(CultureInfo.InvariantCulture, $"{extra.Count} {what} were never answered 201: {Shown(extra)}."));
        }
    }

    /// <summary>How many entries of type <c>transfer</c> each transfer has, over all the accounts' entries, read through the API.</summary>
    private static async Task<Dictionary<string, int>> TransferEntriesAsync(PaymentsClient client, string[] accounts, int parallelism, CancellationToken cancellationToken)
    {
        var perAccount = new List<string>[accounts.Length];
        await Parallel.ForAsync(0, accounts.Length, new ParallelOptions { MaxDegreeOfParallelism = parallelism, CancellationToken = cancellationToken }, async (i, token) =>
        {
            var movements = perAccount[i] = [];
            string? cursor = null;
            do
            {
                var page = await client.GetJsonAsync($"/v1/accounts/{accounts[i]}/entries?limit=100" + (cursor is null ? "" : "&starting_after=" + cursor), token);
                foreach (var entry in page.GetProperty("data").EnumerateArray())
                {
                    if (entry.GetProperty("type").GetString() == "transfer")
                    {
                        movements.Add(entry.GetProperty("movement").GetString()!);
                    }
                }

                cursor = page.GetProperty("has_more").GetBoolean() ? page.GetProperty("next_cursor").GetString() : null;
            }
            while (cursor is not null);
        });

        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var movement in perAccount.SelectMany(m => m))
        {
            counts[movement] = counts.GetValueOrDefault(movement) + 1;
        }

        return counts;
    }

    private static string Shown(List<string> items)
        => string.Join("; ", items.Take(ShownAtMost)) + (items.Count > ShownAtMost ? string.Create(CultureInfo.InvariantCulture, $" and {items.Count - ShownAtMost} more") : "");
}
