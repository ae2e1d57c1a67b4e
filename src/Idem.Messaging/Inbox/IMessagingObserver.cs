namespace Idem.Messaging.Inbox;

/// <summary>
/// Sees deliveries at the points a transport cannot: after the commit and before the transport settles the delivery. For
/// tests that stop a process exactly there; optional in DI.
/// </summary>
internal interface IMessagingObserver
{
    void Committed(string consumer, Message message);

    void Skipped(string consumer, Message message);
}
