using System.Data.Common;

namespace Idem.Payments.Data;

/// <summary>
/// Where the ledger lives. Writes of a keyed request never open a connection here: they run on the connection and
/// transaction of the idempotent request (<see cref="Idem.Storage.IIdempotencyTransaction"/>), so the key, the ledger
/// rows and the stored response commit together. Reads open their own.
/// </summary>
internal interface IPaymentsDatabase
{
    ISqlDialect Dialect { get; }

    /// <summary>Opens a connection of its own (for reads).</summary>
    ValueTask<DbConnection> OpenConnectionAsync(CancellationToken cancellationToken);

    /// <summary>Brings the schema up to date; safe when several processes start at once. Returns how many migrations this call applied.</summary>
    Task<int> MigrateAsync(CancellationToken cancellationToken);
}
