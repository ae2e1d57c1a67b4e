namespace Idem.Messaging.Inbox;

/// <summary>A consumer as registered: its validated options and how to get its handler from a delivery's scope.</summary>
internal sealed record ConsumerRegistration(ConsumerOptions Options, Func<IServiceProvider, IMessageHandler> CreateHandler);
