using Idem.Storage;

namespace Idem.Payments.Data;

/// <summary>
/// Where the ledger lives, and the units of work that run on it. Writes of a keyed request never open a connection
/// here: they join the request's transaction (<see cref="Join"/>), so the key, the ledger rows and the stored response
/// commit together. Reads open their own.
/// </summary>
internal interface IPaymentsDatabase
{
    /// <summary>Joins a transaction Idem owns: a keyed request's, or the inbox's for a consumer.</summary>
    UnitOfWork Join(IIdempotencyTransaction transaction);

    /// <summary>A connection of its own, with no transaction: for reads, and single statements that commit by themselves.</summary>
    ValueTask<UnitOfWork> OpenAsync(CancellationToken cancellationToken);

    /// <summary>A connection of its own in a write transaction, for work with no request around it; commit it with <see cref="UnitOfWork.CommitAsync"/>.</summary>
    ValueTask<UnitOfWork> BeginAsync(CancellationToken cancellationToken);

    /// <summary>Brings the schema up to date; safe when several processes start at once. Returns how many migrations this call applied.</summary>
    Task<int> MigrateAsync(CancellationToken cancellationToken);
}
