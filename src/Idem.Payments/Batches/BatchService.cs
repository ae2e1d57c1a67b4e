using Idem.Payments.Accounts;
using Idem.Payments.Data;
using Idem.Payments.Events;
using Idem.Payments.Transfers;

namespace Idem.Payments.Batches;

/// <summary>
/// Applies a batch of transfers all or nothing, in the request's transaction: every account it touches locked in one
/// statement, in ordinal order of id (the order every movement takes them, so batches and transfers never wait on each
/// other in a cycle); the items applied in memory, in order (<see cref="BatchPlan"/>); then, only if every item passed,
/// everything written in a few statements: the batch, its transfers, their entries (chained to each account's head in
/// memory) and each account's final balance, version and head once. A refusal writes nothing; the request's transaction
/// still commits it as the stored answer.
/// </summary>
internal sealed class BatchService(PaymentEvents events, TimeProvider time)
{
    public async Task<BatchResult> ApplyAsync(
        UnitOfWork work, string tenantId, IReadOnlyList<BatchItem> items, Origin origin, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var now = time.NowToTheMillisecond();

        // SQLite's write transaction already holds the whole database; on PostgreSQL this is one SELECT … FOR UPDATE.
        var ids = items.SelectMany(item => (string[])[item.FromAccount, item.ToAccount]).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        var locked = await ledger.LockAccountsAsync(tenantId, ids, cancellationToken).ConfigureAwait(false);

        var outcome = BatchPlan.Apply(locked.ToDictionary(a => a.Key, a => a.Value.Account, StringComparer.Ordinal), items);
        if (outcome.Refusal is { } refusal)
        {
            return refusal;
        }

        var transfers = items
            .Select(item => new Transfer(Ids.New(Ids.Transfer), tenantId, item.FromAccount, item.ToAccount, item.Amount, item.Currency.Code, TransferStatus.Succeeded, now))
            .ToList();
        var batch = new Batch(Ids.New(Batch.IdPrefix), tenantId, now, transfers);

        // Each entry links to the one before it on its account: the head the account was locked with, then the entries
        // of this batch in item order, the order they are inserted in (their seq).
        var heads = locked.ToDictionary(a => a.Key, a => a.Value.HeadHash, StringComparer.Ordinal);
        var entries = new List<LedgerEntry>(2 * transfers.Count);
        for (var i = 0; i < transfers.Count; i++)
        {
            var transfer = transfers[i];
            entries.Add(Chain(heads, new LedgerEntry(Ids.New(Ids.Entry), tenantId, transfer.FromAccountId, -transfer.Amount, transfer.Currency,
                outcome.Balances[i].From, MovementType.Transfer, transfer.Id, now, origin)));
            entries.Add(Chain(heads, new LedgerEntry(Ids.New(Ids.Entry), tenantId, transfer.ToAccountId, transfer.Amount, transfer.Currency,
                outcome.Balances[i].To, MovementType.Transfer, transfer.Id, now, origin)));
        }

        await new BatchRepository(work).InsertAsync(batch, cancellationToken).ConfigureAwait(false);
        await ledger.InsertEntriesAsync(entries, cancellationToken).ConfigureAwait(false);
        await ledger.SetAccountStatesAsync(
            ids.Select(id => (Read: locked[id].Account, Final: outcome.Accounts[id], HeadHash: heads[id]!)).ToList(), cancellationToken).ConfigureAwait(false);

        // One event per transfer, as a single transfer has: the statements show a batch as the transfers it made.
        foreach (var transfer in transfers)
        {
            await events.EnqueueAsync(work, new PaymentEvent(
                transfer.Id, PaymentEvents.TransferSucceeded, tenantId, transfer.FromAccountId, transfer.Amount, transfer.Currency, now, ToAccount: transfer.ToAccountId),
                cancellationToken).ConfigureAwait(false);
        }

        return batch;
    }

    /// <summary>Links <paramref name="entry"/> to its account's current head and makes it the head.</summary>
    private static LedgerEntry Chain(Dictionary<string, string?> heads, LedgerEntry entry)
    {
        var previous = heads[entry.AccountId];
        var chained = entry with { PrevHash = previous, Hash = EntryHash.Compute(entry, previous) };
        heads[entry.AccountId] = chained.Hash;
        return chained;
    }
}
