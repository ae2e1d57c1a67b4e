using Idem.Storage;

namespace Idem;

/// <summary>What became of an operation run through <see cref="IIdempotentExecutor"/>.</summary>
public enum IdempotentOutcome
{
    /// <summary>The operation ran now, under the key (or, failing open, without it).</summary>
    Executed,

    /// <summary>The operation had already run: its stored result is in the execution, and nothing ran now.</summary>
    Replayed,

    /// <summary>Another caller holds the key and has not finished; nothing ran. Retry with the same key later.</summary>
    InProgress,

    /// <summary>The key belongs to a different operation (another fingerprint); nothing ran. Never retry with this key.</summary>
    Mismatch,

    /// <summary>
    /// The store could not be reached or could not record the result. Before the operation ran (the usual case), nothing
    /// ran; in transactional mode a failed commit kept nothing either. A retry with the same key is safe.
    /// </summary>
    StoreUnavailable,

    /// <summary>
    /// The operation's lease ran out while it ran and another caller took the key over; that caller finishes it, and this
    /// one's result was not stored.
    /// </summary>
    LeaseLost,
}

/// <summary>The result of <see cref="IIdempotentExecutor.ExecuteAsync{TState}"/>.</summary>
public readonly struct IdempotentExecution : IEquatable<IdempotentExecution>
{
    private readonly string[]? _mismatchedFields;

    private IdempotentExecution(
        IdempotentOutcome outcome, IdempotencyResponse? response, TimeSpan retryAfter, Exception? exception, string? recoveryPoint, bool ran, bool guarded,
        string[]? mismatchedFields = null)
    {
        Outcome = outcome;
        Response = response;
        RetryAfter = retryAfter;
        Exception = exception;
        RecoveryPoint = recoveryPoint;
        OperationRan = ran;
        Guarded = guarded;
        _mismatchedFields = mismatchedFields;
    }

    /// <summary>What became of the operation.</summary>
    public IdempotentOutcome Outcome { get; }

    /// <summary>
    /// For <see cref="IdempotentOutcome.Replayed"/>: the stored result. For <see cref="IdempotentOutcome.Executed"/>: the
    /// result the operation produced and the store kept, or null when the operation asked for its key to be released.
    /// </summary>
    public IdempotencyResponse? Response { get; }

    /// <summary>For <see cref="IdempotentOutcome.InProgress"/>: how long until the holder's lease ends, as the store estimates it.</summary>
    public TimeSpan RetryAfter { get; }

    /// <summary>For <see cref="IdempotentOutcome.StoreUnavailable"/> and <see cref="IdempotentOutcome.LeaseLost"/>: what the store or the operation threw.</summary>
    public Exception? Exception { get; }

    /// <summary>The last recovery point the operation recorded, when it ran; a retry with the same key resumes there.</summary>
    public string? RecoveryPoint { get; }

    /// <summary>True when the operation ran in this call (whatever became of its result).</summary>
    public bool OperationRan { get; }

    /// <summary>False when the operation ran without its key because the store was down and it fails open.</summary>
    public bool Guarded { get; }

    /// <summary>
    /// For <see cref="IdempotentOutcome.Mismatch"/>: the top-level members of the input (an HTTP request's JSON body) whose
    /// values differ from those of the operation the key belongs to, or that only one of the two has (told apart by their
    /// hashes, see <see cref="MemberDigest"/>), sorted (ordinal). Empty when they could not be compared (see
    /// <see cref="MismatchedFieldsKnown"/>), and when none differ.
    /// </summary>
    public IReadOnlyList<string> MismatchedFields => _mismatchedFields ?? [];

    /// <summary>
    /// For <see cref="IdempotentOutcome.Mismatch"/>: true when both inputs' members were compared, so that
    /// <see cref="MismatchedFields"/> is exact, and an empty list means the members are the same and the operations differ
    /// elsewhere (an HTTP request's route values, query or content type). False when either input is not a JSON object,
    /// or the key's record was stored without a member digest.
    /// </summary>
    public bool MismatchedFieldsKnown => _mismatchedFields is not null;

    internal static IdempotentExecution Executed(IdempotencyResponse? response, string? recoveryPoint, bool guarded = true) => new(IdempotentOutcome.Executed, response, default, null, recoveryPoint, true, guarded);

    internal static IdempotentExecution Replayed(IdempotencyResponse response) => new(IdempotentOutcome.Replayed, response, default, null, null, false, true);

    internal static IdempotentExecution InProgress(TimeSpan retryAfter) => new(IdempotentOutcome.InProgress, null, retryAfter, null, null, false, true);

    internal static IdempotentExecution Mismatch(string[]? fields) => new(IdempotentOutcome.Mismatch, null, default, null, null, false, true, fields);

    internal static IdempotentExecution StoreUnavailable(Exception exception, bool ran, string? recoveryPoint) => new(IdempotentOutcome.StoreUnavailable, null, default, exception, recoveryPoint, ran, true);

    internal static IdempotentExecution LeaseLost(IdempotencyLeaseLostException exception) => new(IdempotentOutcome.LeaseLost, null, default, exception, null, true, true);

    /// <inheritdoc/>
    public bool Equals(IdempotentExecution other)
        => Outcome == other.Outcome && ReferenceEquals(Response, other.Response) && RetryAfter == other.RetryAfter && ReferenceEquals(Exception, other.Exception)
           && RecoveryPoint == other.RecoveryPoint && OperationRan == other.OperationRan && Guarded == other.Guarded
           && ReferenceEquals(_mismatchedFields, other._mismatchedFields);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is IdempotentExecution other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Outcome, Response, RetryAfter, Exception, RecoveryPoint, OperationRan, Guarded);

    /// <summary>Equality.</summary>
    public static bool operator ==(IdempotentExecution left, IdempotentExecution right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(IdempotentExecution left, IdempotentExecution right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => Outcome.ToString();
}

/// <summary>What an operation run through <see cref="IIdempotentExecutor.ExecuteAsync{TState}"/> asks to be done with its key.</summary>
public readonly struct OperationResult : IEquatable<OperationResult>
{
    private OperationResult(IdempotencyResponse? response, bool abandoned)
    {
        Response = response;
        IsAbandoned = abandoned;
    }

    /// <summary>The result to store, or null to release (or, with <see cref="IsAbandoned"/>, abandon) the key.</summary>
    public IdempotencyResponse? Response { get; }

    /// <summary>True for <see cref="Abandon"/>: the key is neither completed nor released, and stays held until its lease ends.</summary>
    public bool IsAbandoned { get; }

    /// <summary>The operation finished: store <paramref name="response"/> and replay it to every retry with the key.</summary>
    public static OperationResult Complete(IdempotencyResponse response) => new(response ?? throw new ArgumentNullException(nameof(response)), abandoned: false);

    /// <summary>
    /// The operation did not take effect (or should run again): give the key up so a retry runs afresh, or, past a
    /// recovery point, resumes there. In transactional mode its writes roll back.
    /// </summary>
    public static OperationResult Release() => default;

    /// <summary>
    /// The operation's outcome is unknown: it may have taken effect or not (a call to another service timed out, or its
    /// connection dropped after the request was sent), so neither storing a result nor releasing the key would be true.
    /// The key is left as a crashed holder leaves it: in progress, no longer renewed, so retries are refused as in
    /// progress until its lease ends, and then the next one takes it over (at its last recovery point). In transactional
    /// mode nothing of the operation survives its rollback, so this is <see cref="Release"/>.
    /// </summary>
    public static OperationResult Abandon() => new(null, abandoned: true);

    /// <inheritdoc/>
    public bool Equals(OperationResult other) => ReferenceEquals(Response, other.Response) && IsAbandoned == other.IsAbandoned;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is OperationResult other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Response, IsAbandoned);

    /// <summary>Equality.</summary>
    public static bool operator ==(OperationResult left, OperationResult right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(OperationResult left, OperationResult right) => !left.Equals(right);
}
