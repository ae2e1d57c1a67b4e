namespace Idem.AspNetCore;

/// <summary>Endpoint metadata that carries an idempotency policy.</summary>
internal interface IIdempotencyMetadata
{
    IdempotencyPolicy Policy { get; }

    /// <summary>
    /// True when a filter marks the moment the handler starts, so a request turned away before it (binding, validation,
    /// a filter) stores nothing and can be retried. False where no filter runs: then every response counts.
    /// </summary>
    bool TracksHandlerRun { get; }
}

/// <summary>The metadata <c>RequireIdempotency()</c> adds; its filter factory switches run tracking on when the endpoint supports filters.</summary>
internal sealed class ConventionIdempotencyMetadata(IdempotencyPolicy policy) : IIdempotencyMetadata
{
    public IdempotencyPolicy Policy { get; } = policy;

    public bool TracksHandlerRun { get; set; }
}
