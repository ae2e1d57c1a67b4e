using Microsoft.Extensions.DependencyInjection;

namespace Idem.Messaging;

/// <summary>Returned by <c>AddIdempotentMessaging</c>: choose the database, add consumers, add a transport.</summary>
public interface IIdempotentMessagingBuilder
{
    /// <summary>The service collection messaging is registered in.</summary>
    IServiceCollection Services { get; }
}
