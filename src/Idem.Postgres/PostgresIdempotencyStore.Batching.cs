using System.Data;
using Idem.Storage;
using Npgsql;

namespace Idem.Postgres;

/// <summary>
/// Batched claims and completions: the batch's statements (the same first try of a claim, or the same completion, as a
/// request alone runs) go in one round trip, and PostgreSQL runs them in one implicit transaction: one commit for the
/// batch. Each statement takes its own snapshot, so a key twice in one batch is claimed by the first and found in
/// progress by the second. The statements run in the order of their keys, so two batches (of two nodes) lock the rows
/// they share in the same order and never deadlock on them.
/// </summary>
/// <remarks>
/// A batch is all or nothing. When a key is held by a transaction that outlasts the lock timeout (a transactional
/// request still running), the whole batch is rolled back; its claims are then made one by one, so that only that key is
/// answered in progress. A claim the first try leaves open (a takeover, a key past its retention) is made alone after
/// the batch commits.
/// </remarks>
internal sealed partial class PostgresIdempotencyStore
{
    /// <inheritdoc/>
    public async ValueTask ClaimManyAsync(ReadOnlyMemory<ClaimRequest> requests, Memory<ClaimResult> results, CancellationToken cancellationToken = default)
    {
        if (results.Length < requests.Length)
        {
            throw new ArgumentException("There must be a result for each request.", nameof(results));
        }

        foreach (var request in requests.Span)
        {
            ClaimRequest.ThrowIfInvalid(request);
        }

        var order = InKeyOrder(requests.Length, i => requests.Span[i].StoreKey);
        var answered = new bool[requests.Length];
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                using var batch = new NpgsqlBatch(connection);
                foreach (var i in order)
                {
                    AddFirstTry(batch, requests.Span[i]);
                }

                await batch.PrepareAsync(cancellationToken).ConfigureAwait(false);
                var reader = await batch.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    for (var n = 0; n < order.Length; n++)
                    {
                        if (n > 0 && !await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
                        {
                            throw new InvalidOperationException("A batch of claims returned fewer results than it had claims.");
                        }

                        if (await ReadClaimAsync(reader, requests.Span[order[n]], cancellationToken).ConfigureAwait(false) is { } result)
                        {
                            results.Span[order[n]] = result;
                            answered[order[n]] = true;
                        }
                    }
                }
            }
            catch (PostgresException ex) when (IsBatchRolledBackForOneKey(ex))
            {
                // Nothing of the batch was kept: each claim alone, so that only the key that waited answers in progress.
                Log.BatchRetriedAlone(_logger, requests.Length, ex.SqlState);
                Array.Clear(answered);
            }

            // The batch has committed (or kept nothing). What it left open goes alone: every claim after a rollback, and
            // otherwise those the first try sends to the full claim (a takeover, a key past its retention).
            for (var i = 0; i < requests.Length; i++)
            {
                if (!answered[i])
                {
                    var result = await ClaimAloneAsync(connection, requests.Span[i], cancellationToken).ConfigureAwait(false);
                    results.Span[i] = result;
                }
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask CompleteManyAsync(
        ReadOnlyMemory<IdempotencyLease> leases, ReadOnlyMemory<IdempotencyResponse> responses, Memory<LeaseStatus> results, CancellationToken cancellationToken = default)
    {
        if (responses.Length < leases.Length || results.Length < leases.Length)
        {
            throw new ArgumentException("There must be a response and a result for each lease.", nameof(responses));
        }

        var order = InKeyOrder(leases.Length, i => leases.Span[i].StoreKey);
        var commands = new NpgsqlBatchCommand?[leases.Length];
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                using var batch = new NpgsqlBatch(connection);
                foreach (var i in order)
                {
                    ArgumentNullException.ThrowIfNull(leases.Span[i], nameof(leases));
                    ArgumentNullException.ThrowIfNull(responses.Span[i], nameof(responses));
                    if (!Guid.TryParseExact(leases.Span[i].OwnerToken, "N", out var owner))
                    {
                        continue; // no token of ours: nothing to complete
                    }

                    var command = commands[i] = new NpgsqlBatchCommand(_sql.Complete);
                    AddCompleteParameters(command.Parameters, leases.Span[i], owner, responses.Span[i]);
                    batch.BatchCommands.Add(command);
                }

                if (batch.BatchCommands.Count > 0)
                {
                    await batch.PrepareAsync(cancellationToken).ConfigureAwait(false);
                    await batch.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (PostgresException ex) when (IsBatchRolledBackForOneKey(ex))
        {
            Log.BatchRetriedAlone(_logger, leases.Length, ex.SqlState);
            for (var i = 0; i < leases.Length; i++)
            {
                var result = await CompleteAsync(leases.Span[i], responses.Span[i], cancellationToken).ConfigureAwait(false);
                results.Span[i] = result;
            }

            return;
        }

        for (var i = 0; i < leases.Length; i++)
        {
            results.Span[i] = commands[i]?.RecordsAffected == 1 ? LeaseStatus.Ok : LeaseStatus.LeaseLost;
        }
    }

    // Lock waits past the lock timeout, deadlocks and serialization failures end the batch's transaction because of one
    // key (or one moment): each statement alone is then answered as it would be alone.
    private static bool IsBatchRolledBackForOneKey(PostgresException ex)
        => ex.SqlState is PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure;

    // The indices 0..count-1 ordered by key (ordinal), so every batch takes its row locks in one order.
    private static int[] InKeyOrder(int count, Func<int, string> keyOf)
    {
        var order = new int[count];
        var keys = new string[count];
        for (var i = 0; i < count; i++)
        {
            order[i] = i;
            keys[i] = keyOf(i);
        }

        Array.Sort(keys, order, StringComparer.Ordinal);
        return order;
    }
}
