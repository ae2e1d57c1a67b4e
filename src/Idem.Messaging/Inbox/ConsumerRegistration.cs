namespace Idem.Messaging.Inbox;

/// <summary>
/// A consumer as registered: its name (which also names its <see cref="ConsumerOptions"/>, validated at start) and how to
/// get its handler from a delivery's scope.
/// </summary>
internal sealed record ConsumerRegistration(string Name, Func<IServiceProvider, IMessageHandler> CreateHandler);
