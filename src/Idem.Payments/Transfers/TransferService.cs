using Idem.Payments.Accounts;
using Idem.Payments.Data;
using Idem.Payments.Events;

namespace Idem.Payments.Transfers;

/// <summary>
/// Transfers between two accounts of one tenant, under the ledger's rules (<see cref="LedgerService"/>): both accounts
/// locked in id order, every refusal decided before the first write, entries that sum to zero, and the event enqueued in
/// the transaction that made the transfer.
/// </summary>
internal sealed class TransferService(PaymentEvents events, TimeProvider time)
{
    /// <summary>Moves money between two accounts of one tenant, in one currency.</summary>
    public async Task<LedgerResult<Transfer>> TransferAsync(
        UnitOfWork work, string tenantId, string fromAccountId, string toAccountId, long amount, Currency currency, Origin origin, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var transfers = new TransferRepository(work);
        var now = Now();

        // Both accounts in id order, whichever is debited. SQLite's write transaction already holds the whole database;
        // on PostgreSQL these are SELECT … FOR UPDATE, and the fixed order rules out deadlocks between opposite transfers
        // (A→B beside B→A).
        var locked = await LedgerService.LockPairAsync(ledger, tenantId, fromAccountId, toAccountId, currency, "transfer", cancellationToken)
            .ConfigureAwait(false);
        if (locked.Error is { } refused)
        {
            return refused;
        }

        var (from, to, fromHead, toHead) = locked.Value!;
        if (to.Room < amount)
        {
            return LedgerService.BalanceLimit(to);
        }

        if (from.Spendable < amount)
        {
            return LedgerService.InsufficientFunds(from, amount, "transfer");
        }

        // Both accounts are locked and read: the new balances and the entries' chain are known here, and everything is
        // written in one round trip, each account only at the version it was locked at.
        var transfer = new Transfer(Ids.New(Ids.Transfer), tenantId, from.Id, to.Id, amount, currency.Code, TransferStatus.Succeeded, now);
        var debit = Chained(new LedgerEntry(Ids.New(Ids.Entry), tenantId, from.Id, -amount, currency.Code, from.Balance - amount, MovementType.Transfer, transfer.Id, now, origin), fromHead);
        var credit = Chained(new LedgerEntry(Ids.New(Ids.Entry), tenantId, to.Id, amount, currency.Code, to.Balance + amount, MovementType.Transfer, transfer.Id, now, origin), toHead);
        await transfers.InsertPostedAsync(transfer, from, debit, to, credit, cancellationToken).ConfigureAwait(false);
        await events.EnqueueAsync(work, new PaymentEvent(
            transfer.Id, PaymentEvents.TransferSucceeded, tenantId, from.Id, amount, currency.Code, now, ToAccount: to.Id), cancellationToken).ConfigureAwait(false);
        return transfer;
    }

    private static LedgerEntry Chained(LedgerEntry entry, string? prevHash) => entry with { PrevHash = prevHash, Hash = EntryHash.Compute(entry, prevHash) };

    private DateTimeOffset Now() => time.NowToTheMillisecond();
}
