using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Idem.Payments.Processor;

/// <summary>
/// The simulator's ledger of charges and refunds, in its own SQLite file. Each write is one statement that is idempotent
/// by itself (unique idempotency key, <c>ON CONFLICT DO NOTHING</c>), a second line behind Idem's record: whatever
/// happens to a key's record, one key charges once.
/// </summary>
internal sealed class ProcessorStore(string connectionString, TimeProvider time) : IDisposable
{
    private const string Schema = """
        PRAGMA journal_mode = WAL;
        CREATE TABLE IF NOT EXISTS charges (
            id TEXT NOT NULL PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            reference TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('succeeded', 'declined')),
            refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= amount),
            created_at INTEGER NOT NULL
        ) STRICT;
        CREATE TABLE IF NOT EXISTS refunds (
            id TEXT NOT NULL PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            charge_id TEXT NOT NULL REFERENCES charges (id),
            reference TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount > 0),
            created_at INTEGER NOT NULL
        ) STRICT;
        """;

    private readonly SemaphoreSlim _writes = new(1, 1);

    public void Dispose() => _writes.Dispose();

    public void EnsureSchema()
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = Schema;
        command.ExecuteNonQuery();
    }

    public async Task<ChargeRecord> ChargeAsync(string key, ChargeRequest request, string status, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO charges (id, idempotency_key, reference, amount, currency, source, status, created_at)
                VALUES ($id, $key, $reference, $amount, $currency, $source, $status, $now)
                ON CONFLICT (idempotency_key) DO NOTHING;
                """;
            command.Parameters.AddWithValue("$id", "ch_" + Guid.NewGuid().ToString("N"));
            command.Parameters.AddWithValue("$key", key);
            command.Parameters.AddWithValue("$reference", request.Reference);
            command.Parameters.AddWithValue("$amount", request.Amount);
            command.Parameters.AddWithValue("$currency", request.Currency);
            command.Parameters.AddWithValue("$source", request.Source);
            command.Parameters.AddWithValue("$status", status);
            command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return (await ReadChargesAsync(connection, "WHERE idempotency_key = $key", key, cancellationToken).ConfigureAwait(false))[0];
        }
        finally
        {
            _writes.Release();
        }
    }

    public async Task<RefundRecord?> RefundAsync(string key, RefundRequest request, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction(deferred: false);
            var existing = await ReadRefundsAsync(connection, transaction, key, cancellationToken).ConfigureAwait(false);
            if (existing.Count == 1)
            {
                return existing[0];
            }

            using (var update = connection.CreateCommand())
            {
                // One conditional update keeps refunds within the charge; a card whose network refuses refunds takes none.
                update.Transaction = transaction;
                update.CommandText = $"UPDATE charges SET refunded = refunded + $amount WHERE id = $charge AND status = 'succeeded' AND refunded + $amount <= amount AND source <> '{ProcessorSimulator.RefundRefusedSource}';";
                update.Parameters.AddWithValue("$amount", request.Amount);
                update.Parameters.AddWithValue("$charge", request.Charge);
                if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                {
                    return null;
                }
            }

            using (var insert = connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO refunds (id, idempotency_key, charge_id, reference, amount, created_at) VALUES ($id, $key, $charge, $reference, $amount, $now);";
                insert.Parameters.AddWithValue("$id", "re_" + Guid.NewGuid().ToString("N"));
                insert.Parameters.AddWithValue("$key", key);
                insert.Parameters.AddWithValue("$charge", request.Charge);
                insert.Parameters.AddWithValue("$reference", request.Reference);
                insert.Parameters.AddWithValue("$amount", request.Amount);
                insert.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var refund = (await ReadRefundsAsync(connection, transaction, key, cancellationToken).ConfigureAwait(false))[0];
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return refund;
        }
        finally
        {
            _writes.Release();
        }
    }

    public async Task<List<ChargeRecord>> ListChargesAsync(CancellationToken cancellationToken)
    {
        using var connection = Open();
        return await ReadChargesAsync(connection, "ORDER BY created_at, id", null, cancellationToken).ConfigureAwait(false);
    }

    public async Task<List<RefundRecord>> ListRefundsAsync(CancellationToken cancellationToken)
    {
        using var connection = Open();
        return await ReadRefundsAsync(connection, null, null, cancellationToken).ConfigureAwait(false);
    }

    private static async Task<List<ChargeRecord>> ReadChargesAsync(SqliteConnection connection, string where, string? key, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, reference, amount, currency, source, status, refunded, idempotency_key FROM charges " + where + ";";
        if (key is not null)
        {
            command.Parameters.AddWithValue("$key", key);
        }

        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var charges = new List<ChargeRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            charges.Add(new ChargeRecord(reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt64(6), reader.GetString(7)));
        }

        return charges;
    }

    private static async Task<List<RefundRecord>> ReadRefundsAsync(SqliteConnection connection, SqliteTransaction? transaction, string? key, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = "SELECT id, charge_id, reference, amount, idempotency_key FROM refunds" + (key is null ? " ORDER BY created_at, id;" : " WHERE idempotency_key = $key;");
        if (key is not null)
        {
            command.Parameters.AddWithValue("$key", key);
        }

        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var refunds = new List<RefundRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            refunds.Add(new RefundRecord(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetInt64(3), reader.GetString(4)));
        }

        return refunds;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(connectionString);
        connection.Open();
        using var pragma = connection.CreateCommand();
        pragma.CommandText = string.Create(CultureInfo.InvariantCulture, $"PRAGMA busy_timeout = 5000; PRAGMA synchronous = FULL;");
        pragma.ExecuteNonQuery();
        return connection;
    }
}
