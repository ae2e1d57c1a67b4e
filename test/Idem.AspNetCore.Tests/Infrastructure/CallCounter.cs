namespace Idem.AspNetCore.Tests.Infrastructure;

/// <summary>Counts handler invocations across threads.</summary>
public sealed class CallCounter
{
    private int _count;

    public int Count => Volatile.Read(ref _count);

    public int Increment() => Interlocked.Increment(ref _count);
}
