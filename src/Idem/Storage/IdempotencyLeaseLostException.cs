namespace Idem.Storage;

/// <summary>
/// The request no longer holds its key: its lease ran out and another request took the key over, so nothing this
/// request still had to write was written. The other request finishes the operation.
/// </summary>
public sealed class IdempotencyLeaseLostException : Exception
{
    /// <summary>Creates the exception.</summary>
    public IdempotencyLeaseLostException()
        : base("The idempotency key's lease was lost to another request; nothing more was written.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public IdempotencyLeaseLostException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and its cause.</summary>
    public IdempotencyLeaseLostException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
