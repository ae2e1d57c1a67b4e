namespace Idem.Http.Tests.Infrastructure;

/// <summary>A one-shot signal between a test and a handler, with a bound so a broken test fails instead of hanging.</summary>
internal sealed class Signal
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly TaskCompletionSource _source = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsSet => _source.Task.IsCompleted;

    public void Set() => _source.TrySetResult();

    public Task WaitAsync() => _source.Task.WaitAsync(Timeout);
}
