using System.Data.Common;
using Microsoft.EntityFrameworkCore.Diagnostics;

namespace Idem.EntityFrameworkCore;

/// <summary>
/// Puts every command a joined context runs into the operation's current transaction. The transaction is read at each
/// command, not once, because an operation in phases commits one transaction and begins the next on the same connection.
/// </summary>
internal sealed class IdempotencyCommandInterceptor : DbCommandInterceptor
{
    public static readonly IdempotencyCommandInterceptor Instance = new();

    public override DbCommand CommandInitialized(CommandEndEventData eventData, DbCommand result)
    {
        if (eventData.Context is { } context && IdempotentDbContexts.JoinedTransaction(context) is { } joined && ReferenceEquals(result.Connection, joined.Connection))
        {
            result.Transaction = joined.Transaction;
        }

        return result;
    }
}
