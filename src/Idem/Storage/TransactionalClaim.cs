using System.Data.Common;

namespace Idem.Storage;

/// <summary>The connection and transaction a transactional request runs in. Handlers reach it through DI.</summary>
public interface IIdempotencyTransaction
{
    /// <summary>The open connection. Do not close it or open another one for the request's writes.</summary>
    DbConnection Connection { get; }

    /// <summary>The transaction every write of the request must join. Do not commit or roll it back.</summary>
    DbTransaction Transaction { get; }
}

/// <summary>
/// The outcome of a transactional claim. When claimed it owns an open transaction: <see cref="CommitAsync"/> stores the
/// response in it and commits; disposing without committing rolls everything back, the claim included.
/// </summary>
public abstract class TransactionalClaim : IAsyncDisposable
{
    /// <summary>Creates the claim with its outcome.</summary>
    protected TransactionalClaim(ClaimResult result) => Result = result;

    /// <summary>What the claim found.</summary>
    public ClaimResult Result { get; }

    /// <summary>The open transaction, when <see cref="Result"/> is <see cref="ClaimOutcome.Claimed"/>.</summary>
    public abstract IIdempotencyTransaction? Transaction { get; }

    /// <summary>Writes the response into the transaction and commits the whole unit of work.</summary>
    public abstract ValueTask CommitAsync(IdempotencyResponse response, CancellationToken cancellationToken = default);

    /// <summary>Rolls back the transaction (the claim with it), so a retry runs afresh.</summary>
    public abstract ValueTask RollbackAsync(CancellationToken cancellationToken = default);

    /// <inheritdoc/>
    public async ValueTask DisposeAsync()
    {
        await DisposeAsyncCore().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    /// <summary>Releases the connection; rolls back when neither committed nor rolled back.</summary>
    protected abstract ValueTask DisposeAsyncCore();
}
