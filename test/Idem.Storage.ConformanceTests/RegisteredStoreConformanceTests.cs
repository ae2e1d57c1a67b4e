using Microsoft.Extensions.DependencyInjection;

namespace Idem.Storage.ConformanceTests;

/// <summary>
/// The suite on a store registered the way an application registers it: through the store's extension on
/// <see cref="IIdempotencyBuilder"/>, then resolved from a service provider, which is disposed with the test class.
/// </summary>
public abstract class RegisteredStoreConformanceTests : StoreConformanceTests, IDisposable
{
    private readonly List<ServiceProvider> _providers = [];

    /// <inheritdoc/>
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Registers one store, as an application's start-up code would.</summary>
    protected abstract void Register(IIdempotencyBuilder builder);

    /// <summary>Disposes every service provider the tests built.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (!disposing)
        {
            return;
        }

        foreach (var provider in _providers)
        {
            provider.Dispose();
        }

        _providers.Clear();
    }

    /// <inheritdoc/>
    protected override ValueTask<IIdempotencyStore> CreateStoreAsync()
    {
        var builder = new Builder(new ServiceCollection());
        Register(builder);
        var provider = builder.Services.BuildServiceProvider();
        _providers.Add(provider);
        return new(provider.GetRequiredService<IIdempotencyStore>());
    }

    private sealed class Builder(IServiceCollection services) : IIdempotencyBuilder
    {
        public IServiceCollection Services { get; } = services;
    }
}
