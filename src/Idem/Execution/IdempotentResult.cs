namespace Idem;

/// <summary>The result of <see cref="IdempotentExecutorExtensions.RunAsync{T}"/>: what became of the operation, and its value.</summary>
/// <typeparam name="T">The operation's result type.</typeparam>
public readonly struct IdempotentResult<T> : IEquatable<IdempotentResult<T>>
{
    internal IdempotentResult(IdempotentExecution execution, T? value)
    {
        Execution = execution;
        Value = value;
    }

    /// <summary>What became of the operation.</summary>
    public IdempotentOutcome Outcome => Execution.Outcome;

    /// <summary>
    /// The operation's value: the one it returned now (<see cref="IdempotentOutcome.Executed"/>) or the stored one
    /// (<see cref="IdempotentOutcome.Replayed"/>); default otherwise.
    /// </summary>
    public T? Value { get; }

    /// <summary>True when <see cref="Value"/> holds the operation's value: it ran now, or it had run.</summary>
    public bool HasValue => Outcome is IdempotentOutcome.Executed or IdempotentOutcome.Replayed;

    /// <summary>The execution underneath, with the retry hint, the exception and the recovery point.</summary>
    public IdempotentExecution Execution { get; }

    /// <inheritdoc/>
    public bool Equals(IdempotentResult<T> other) => Execution == other.Execution && EqualityComparer<T?>.Default.Equals(Value, other.Value);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is IdempotentResult<T> other && Equals(other);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Execution, Value);

    /// <summary>Equality.</summary>
    public static bool operator ==(IdempotentResult<T> left, IdempotentResult<T> right) => left.Equals(right);

    /// <summary>Inequality.</summary>
    public static bool operator !=(IdempotentResult<T> left, IdempotentResult<T> right) => !left.Equals(right);

    /// <inheritdoc/>
    public override string ToString() => HasValue ? $"{Outcome}: {Value}" : Outcome.ToString();
}
