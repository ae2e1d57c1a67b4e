using System.Data.Common;
using Idem.Storage;

namespace Idem.Messaging;

/// <summary>
/// One delivery as a handler sees it: the message, and the open connection and transaction the handler writes its effects
/// through. It is also an <see cref="IIdempotencyTransaction"/>, so code written for transactional requests can run here.
/// </summary>
public sealed class MessageContext : IIdempotencyTransaction
{
    internal MessageContext(string consumer, Message message, int attempt, DbConnection connection, DbTransaction transaction, IServiceProvider services)
    {
        Consumer = consumer;
        Message = message;
        Attempt = attempt;
        Connection = connection;
        Transaction = transaction;
        Services = services;
    }

    /// <summary>The consumer's name.</summary>
    public string Consumer { get; }

    /// <summary>The message.</summary>
    public Message Message { get; }

    /// <summary>Which attempt this is for this consumer, from 1: earlier ones failed and rolled back.</summary>
    public int Attempt { get; }

    /// <summary>The open connection. Do not close it, and do not open another one for the handler's writes.</summary>
    public DbConnection Connection { get; }

    /// <summary>The transaction every write of the handler must join (set it on each command). Do not commit or roll it back.</summary>
    public DbTransaction Transaction { get; }

    /// <summary>The delivery's DI scope.</summary>
    public IServiceProvider Services { get; }
}
