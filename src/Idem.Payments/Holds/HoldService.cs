using Idem.Payments.Accounts;
using Idem.Payments.Data;

namespace Idem.Payments.Holds;

/// <summary>Why a hold could not be captured or voided. Each maps to one problem type.</summary>
internal enum HoldErrorKind
{
    /// <summary>No such hold for the tenant.</summary>
    NotFound,

    /// <summary>The hold was captured or voided already, or has expired.</summary>
    NotPending,

    /// <summary>The capture asks for more than the hold reserved.</summary>
    ExceedsHold,
}

/// <summary>A refusal of a capture or void, with the hold as it stands when there is one.</summary>
internal sealed record HoldError(HoldErrorKind Kind, string Detail, Hold? Hold = null);

/// <summary>Either the hold after the change, or why nothing changed.</summary>
internal readonly record struct HoldResult(Hold? Value, HoldError? Error)
{
    public static implicit operator HoldResult(Hold value) => new(value, null);

    public static implicit operator HoldResult(HoldError error) => new(null, error);
}

/// <summary>
/// Holds (two-phase transfers) under the ledger's rules (<see cref="LedgerService"/>). Creating one locks its two accounts
/// in id order and reserves the amount on one and promises it to the other, within their limits. Capturing, voiding and
/// expiring each lock the hold first and its accounts after, in id order; each ends with a conditional update of the
/// hold's status from <c>pending</c>, so of a capture, a void and the expiry racing for one hold exactly one wins.
/// Whether a hold has expired is the database's clock's call, the same on every node.
/// </summary>
internal sealed class HoldService(TimeProvider time)
{
    /// <summary>How long a hold lasts when the request does not say.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromDays(1);

    /// <summary>The longest a hold may last.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(30);

    public async Task<LedgerResult<Hold>> CreateAsync(
        UnitOfWork work, string tenantId, string fromAccountId, string toAccountId, long amount, Currency currency, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var ledger = new LedgerRepository(work);
        var holds = new HoldRepository(work);
        var locked = await LedgerService.LockPairAsync(ledger, tenantId, fromAccountId, toAccountId, currency, "hold", cancellationToken)
            .ConfigureAwait(false);
        if (locked.Error is { } refused)
        {
            return refused;
        }

        var (from, to, _, _) = locked.Value!;
        if (to.Room < amount)
        {
            return LedgerService.BalanceLimit(to);
        }

        if (from.Spendable < amount)
        {
            return LedgerService.InsufficientFunds(from, amount, "hold");
        }

        if (!await holds.ReserveAsync(from.Id, amount, cancellationToken).ConfigureAwait(false))
        {
            throw LedgerService.LockBroken(from.Id);
        }

        if (!await holds.PromiseAsync(to.Id, amount, cancellationToken).ConfigureAwait(false))
        {
            throw LedgerService.LockBroken(to.Id);
        }

        var now = time.NowToTheMillisecond();
        var hold = new Hold(Ids.New(Ids.Hold), tenantId, from.Id, to.Id, amount, currency.Code, HoldStatus.Pending, 0, default, now, now);
        return await holds.InsertAsync(hold, (long)lifetime.TotalMilliseconds, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Moves <paramref name="amount"/> of a pending hold (all of it when null) and releases the rest: two entries of movement
    /// <c>hold_capture</c> under the hold's id, tied to the capture's request.
    /// </summary>
    public async Task<HoldResult> CaptureAsync(UnitOfWork work, string tenantId, string id, long? amount, Origin origin, CancellationToken cancellationToken)
    {
        var holds = new HoldRepository(work);
        var (hold, error) = await LockPendingAsync(holds, work, tenantId, id, cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        var captured = amount ?? hold!.Amount;
        if (captured > hold!.Amount)
        {
            return new HoldError(HoldErrorKind.ExceedsHold,
                $"Hold {hold.Id} reserved {hold.Amount} {hold.Currency} minor units; a capture of {captured} would exceed it. Nothing was captured.", hold);
        }

        await LockAccountsAsync(work, hold, cancellationToken).ConfigureAwait(false);
        var now = time.NowToTheMillisecond();
        var fromBalance = await holds.CaptureDebitAsync(hold, captured, cancellationToken).ConfigureAwait(false) ?? throw LedgerService.LockBroken(hold.FromAccountId);
        var toBalance = await holds.CaptureCreditAsync(hold, captured, cancellationToken).ConfigureAwait(false) ?? throw LedgerService.LockBroken(hold.ToAccountId);
        var ledger = new LedgerRepository(work);
        await LedgerService.PostEntryAsync(ledger, tenantId, hold.FromAccountId, -captured, hold.Currency, fromBalance, MovementType.HoldCapture, hold.Id, origin, now, cancellationToken)
            .ConfigureAwait(false);
        await LedgerService.PostEntryAsync(ledger, tenantId, hold.ToAccountId, captured, hold.Currency, toBalance, MovementType.HoldCapture, hold.Id, origin, now, cancellationToken)
            .ConfigureAwait(false);
        return await FinishAsync(holds, hold, HoldStatus.Captured, captured, now, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Releases a pending hold without moving anything.</summary>
    public async Task<HoldResult> VoidAsync(UnitOfWork work, string tenantId, string id, CancellationToken cancellationToken)
    {
        var holds = new HoldRepository(work);
        var (hold, error) = await LockPendingAsync(holds, work, tenantId, id, cancellationToken).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        return await ReleaseAsync(holds, work, hold!, HoldStatus.Voided, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Expires the hold whose time ran out first by the database's clock, if any, releasing what it reserved and promised.
    /// Run in a transaction of its own per hold; false when no hold has expired.
    /// </summary>
    public async Task<bool> ExpireNextAsync(UnitOfWork work, CancellationToken cancellationToken)
    {
        var holds = new HoldRepository(work);
        if (await holds.ClaimExpiredAsync(cancellationToken).ConfigureAwait(false) is not { } claimed)
        {
            return false;
        }

        if (await holds.LockAsync(claimed.TenantId, claimed.Id, cancellationToken).ConfigureAwait(false) is { Expired: true } locked)
        {
            await ReleaseAsync(holds, work, locked.Hold, HoldStatus.Expired, cancellationToken).ConfigureAwait(false);
        }

        return true;
    }

    // A pending hold found expired is expired here and now, in the request's transaction, exactly as the background pass
    // would: the answer (409, expired) and the hold's state agree from that moment on.
    private async Task<(Hold? Hold, HoldError? Error)> LockPendingAsync(HoldRepository holds, UnitOfWork work, string tenantId, string id, CancellationToken cancellationToken)
    {
        if (await holds.LockAsync(tenantId, id, cancellationToken).ConfigureAwait(false) is not { } locked)
        {
            return (null, new HoldError(HoldErrorKind.NotFound, $"No hold {id} exists."));
        }

        var hold = locked.Hold;
        if (locked.Expired)
        {
            hold = await ReleaseAsync(holds, work, hold, HoldStatus.Expired, cancellationToken).ConfigureAwait(false);
        }

        return hold.Status == HoldStatus.Pending
            ? (hold, null)
            : (null, new HoldError(HoldErrorKind.NotPending, $"Hold {hold.Id} is {hold.Status}; only a pending hold can be captured or voided. Nothing was changed.", hold));
    }

    private async Task<Hold> ReleaseAsync(HoldRepository holds, UnitOfWork work, Hold hold, string status, CancellationToken cancellationToken)
    {
        await LockAccountsAsync(work, hold, cancellationToken).ConfigureAwait(false);
        if (!await holds.ReleaseAsync(hold, cancellationToken).ConfigureAwait(false))
        {
            throw LedgerService.LockBroken(hold.FromAccountId);
        }

        return await FinishAsync(holds, hold, status, 0, time.NowToTheMillisecond(), cancellationToken).ConfigureAwait(false);
    }

    private static async Task<Hold> FinishAsync(HoldRepository holds, Hold hold, string status, long captured, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // The hold is locked and was pending: a refused update means the locking is broken, and throwing rolls it all back.
        if (!await holds.FinishAsync(hold.Id, status, captured, now, cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException($"Hold {hold.Id} changed while it was locked.");
        }

        return hold with { Status = status, CapturedAmount = captured, UpdatedAt = now };
    }

    // The accounts' rows, in the id order every movement takes them, after the hold's.
    private static async Task LockAccountsAsync(UnitOfWork work, Hold hold, CancellationToken cancellationToken)
        => _ = await new LedgerRepository(work).LockAccountsAsync(hold.TenantId, [hold.FromAccountId, hold.ToAccountId], cancellationToken).ConfigureAwait(false);
}
