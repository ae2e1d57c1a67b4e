using Microsoft.Extensions.DependencyInjection;

namespace Idem;

/// <summary>Returned by <c>AddIdempotency</c>; store packages add their <c>Add…Store</c> methods to it.</summary>
public interface IIdempotencyBuilder
{
    /// <summary>The service collection idempotency is registered in.</summary>
    IServiceCollection Services { get; }
}
