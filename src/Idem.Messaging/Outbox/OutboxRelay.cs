using System.Data.Common;
using Idem.Messaging.Data;
using Idem.Messaging.Transport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Idem.Messaging.Outbox;

/// <summary>
/// One pass of the relay: reads committed, unpublished messages in enqueue order, publishes them, and marks what the
/// broker confirmed.
/// </summary>
/// <remarks>
/// <para>
/// The messages of one aggregate are published one after the other, each only once the broker confirmed the one before;
/// when one fails, the rest of its aggregate waits for the next pass. Different aggregates (and messages with none) are
/// published side by side.
/// </para>
/// <para>
/// A message is marked only after its confirm. A crash between the confirm and the mark publishes it again on the next
/// pass: consumers' inboxes skip the copy. A crash before the publish only delays it: the row is still unpublished.
/// </para>
/// </remarks>
internal sealed class OutboxRelay(MessagingDatabase database, IMessagePublisher publisher, IOptions<MessagingOptions> options, ILogger<OutboxRelay> logger)
{
    private const int MaxErrorLength = 2000;

    /// <summary>Runs one pass over at most <see cref="MessagingOptions.RelayBatchSize"/> messages.</summary>
    public async Task<RelayPass> RunPassAsync(CancellationToken cancellationToken)
    {
        var sql = database.Sql;
        var connection = await database.OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // PostgreSQL: one transaction per pass holds the relay lock, so one node relays at a time. SQLite: none, or the
            // pass would hold the database's only write lock while it waits for the broker.
            var transaction = sql is PostgresMessagingSql ? await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false) : null;
            try
            {
                if (transaction is not null && !await sql.TryEnterRelayAsync(connection, transaction, cancellationToken).ConfigureAwait(false))
                {
                    return new RelayPass(0, 0, 0, Busy: true);
                }

                var rows = await ReadAsync(connection, transaction, cancellationToken).ConfigureAwait(false);
                if (rows.Count == 0)
                {
                    return default;
                }

                var chains = Chains(rows);
                var results = await Task.WhenAll(chains.Select(chain => PublishChainAsync(chain, cancellationToken))).ConfigureAwait(false);

                var published = results.SelectMany(r => r.Published).ToList();
                var failures = results.Where(r => r.Failure is not null).Select(r => r.Failure!.Value).ToList();
                await MarkAsync(connection, transaction, published, failures, cancellationToken).ConfigureAwait(false);
                if (transaction is not null)
                {
                    await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                }

                MessagingTelemetry.Published.Add(published.Count);
                if (failures.Count > 0)
                {
                    MessagingTelemetry.PublishFailures.Add(failures.Count);
                }

                return new RelayPass(rows.Count, published.Count, failures.Count, Busy: false);
            }
            finally
            {
                if (transaction is not null)
                {
                    await transaction.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    private async Task<List<(long Seq, Message Message)>> ReadAsync(DbConnection connection, DbTransaction? transaction, CancellationToken cancellationToken)
    {
        var rows = new List<(long, Message)>();
        using var command = Db.Command(connection, transaction, database.Sql.SelectUnpublished);
        Db.AddInt(command, "@limit", options.Value.RelayBatchSize);
        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var message = new Message(reader.GetString(2), reader.IsDBNull(5) ? Array.Empty<byte>() : (byte[])reader.GetValue(5))
            {
                Id = reader.GetString(1),
                Aggregate = reader.IsDBNull(3) ? null : reader.GetString(3),
                ContentType = reader.IsDBNull(4) ? null : reader.GetString(4),
            };
            rows.Add((Db.ToInt64(reader.GetValue(0)), message));
        }

        return rows;
    }

    // Each aggregate's messages in enqueue order; each message without an aggregate on its own.
    private static List<List<(long Seq, Message Message)>> Chains(List<(long Seq, Message Message)> rows)
    {
        var chains = new List<List<(long, Message)>>();
        var byAggregate = new Dictionary<string, List<(long, Message)>>(StringComparer.Ordinal);
        foreach (var row in rows)
        {
            if (row.Message.Aggregate is not { } aggregate)
            {
                chains.Add([row]);
            }
            else if (byAggregate.TryGetValue(aggregate, out var chain))
            {
                chain.Add(row);
            }
            else
            {
                chain = [row];
                byAggregate.Add(aggregate, chain);
                chains.Add(chain);
            }
        }

        return chains;
    }

    private async Task<(List<long> Published, (long Seq, string Error)? Failure)> PublishChainAsync(List<(long Seq, Message Message)> chain, CancellationToken cancellationToken)
    {
        var published = new List<long>(chain.Count);
        foreach (var (seq, message) in chain)
        {
            try
            {
                await publisher.PublishAsync(message, cancellationToken).ConfigureAwait(false);
                published.Add(seq);
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                Log.PublishFailed(logger, message.Id, message.Type, ex);
                return (published, (seq, Truncate($"{ex.GetType().FullName}: {ex.Message}")));
            }
        }

        return (published, null);
    }

    private async Task MarkAsync(DbConnection connection, DbTransaction? transaction, List<long> published, List<(long Seq, string Error)> failures, CancellationToken cancellationToken)
    {
        // The broker has these: marking must not be abandoned half-way because the host is stopping.
        _ = cancellationToken;
        if (published.Count > 0)
        {
            using var command = Db.Command(connection, transaction, database.Sql.MarkPublished(published.Count));
            database.AddNow(command);
            for (var i = 0; i < published.Count; i++)
            {
                Db.Add(command, "@s" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), System.Data.DbType.Int64, published[i]);
            }

            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }

        foreach (var (seq, error) in failures)
        {
            using var command = Db.Command(connection, transaction, database.Sql.RecordPublishFailure);
            Db.Add(command, "@seq", System.Data.DbType.Int64, seq);
            Db.AddText(command, "@error", error);
            await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static string Truncate(string value) => value.Length <= MaxErrorLength ? value : value[..MaxErrorLength];
}

/// <summary>What one relay pass did.</summary>
/// <param name="Read">Messages read.</param>
/// <param name="Published">Messages the broker confirmed and the outbox marked.</param>
/// <param name="Failed">Aggregates (or single messages) whose publish failed; they wait for the next pass.</param>
/// <param name="Busy">Another node holds the relay.</param>
internal readonly record struct RelayPass(int Read, int Published, int Failed, bool Busy);
