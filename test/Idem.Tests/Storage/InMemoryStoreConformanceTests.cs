using Idem.Storage;
using Idem.Storage.ConformanceTests;
using Microsoft.Extensions.Time.Testing;

namespace Idem.Tests.Storage;

/// <summary>The reference store against the conformance suite, on a fake clock.</summary>
public sealed class InMemoryStoreConformanceTests : StoreConformanceTests
{
    private readonly FakeTimeProvider _time = new();

    protected override DateTimeOffset StoreNow => _time.GetUtcNow();

    protected override ValueTask<IIdempotencyStore> CreateStoreAsync() => new(new InMemoryIdempotencyStore(_time));

    protected override Task AdvanceTimeAsync(TimeSpan by)
    {
        _time.Advance(by);
        return Task.CompletedTask;
    }
}
