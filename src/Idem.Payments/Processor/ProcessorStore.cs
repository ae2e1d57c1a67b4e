using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Idem.Payments.Processor;

/// <summary>
/// The simulator's ledger of charges and refunds, in its own SQLite file. Each write is one statement that is idempotent
/// by itself (unique idempotency key, <c>ON CONFLICT DO NOTHING</c>), a second line behind Idem's record: whatever
/// happens to a key's record, one key charges once. A charge made with <c>capture: false</c> only authorises its amount
/// (<c>requires_capture</c>) until it is captured or canceled, or its authorisation expires; each capture and cancel is
/// recorded under its key (<c>charge_actions</c>), so one key captures or cancels once.
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

    // Version 1 (PRAGMA user_version), manual capture: a charge may be an authorisation awaiting capture
    // (requires_capture, until expires_at), captured in part or whole (captured; refunds stay within it), or canceled.
    // SQLite cannot change a CHECK in place: charges is rebuilt, rows kept (an old succeeded charge captured its amount).
    // Whether an authorisation has expired is a matter of the clock, so it is never stored: it is read as 'expired'.
    private const string ManualCaptureMigration = """
        CREATE TABLE charges_v1 (
            id TEXT NOT NULL PRIMARY KEY,
            idempotency_key TEXT NOT NULL UNIQUE,
            reference TEXT NOT NULL,
            amount INTEGER NOT NULL CHECK (amount > 0),
            currency TEXT NOT NULL,
            source TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('succeeded', 'declined', 'requires_capture', 'canceled')),
            captured INTEGER NOT NULL DEFAULT 0 CHECK (captured BETWEEN 0 AND amount),
            refunded INTEGER NOT NULL DEFAULT 0 CHECK (refunded >= 0 AND refunded <= captured),
            expires_at INTEGER NULL,
            created_at INTEGER NOT NULL,
            CHECK ((status = 'succeeded') = (captured > 0)),
            CHECK (status NOT IN ('requires_capture', 'canceled') OR expires_at IS NOT NULL)
        ) STRICT;
        INSERT INTO charges_v1 (id, idempotency_key, reference, amount, currency, source, status, captured, refunded, created_at)
            SELECT id, idempotency_key, reference, amount, currency, source, status, CASE status WHEN 'succeeded' THEN amount ELSE 0 END, refunded, created_at
            FROM charges;
        DROP TABLE charges;
        ALTER TABLE charges_v1 RENAME TO charges;
        CREATE TABLE IF NOT EXISTS charge_actions (
            idempotency_key TEXT NOT NULL PRIMARY KEY,
            charge_id TEXT NOT NULL REFERENCES charges (id),
            kind TEXT NOT NULL CHECK (kind IN ('capture', 'cancel')),
            amount INTEGER NOT NULL CHECK (amount >= 0),
            created_at INTEGER NOT NULL
        ) STRICT;
        PRAGMA user_version = 1;
        """;

    // What a charge is now: an authorisation past its expiry is expired, whatever was stored.
    private const string ChargeColumns =
        "id, reference, amount, currency, source, CASE WHEN status = 'requires_capture' AND expires_at <= $now THEN 'expired' ELSE status END, refunded, idempotency_key, captured, expires_at";

    private readonly SemaphoreSlim _writes = new(1, 1);

    public void Dispose() => _writes.Dispose();

    public void EnsureSchema()
    {
        using (var connection = Open())
        using (var command = connection.CreateCommand())
        {
            command.CommandText = Schema;
            command.ExecuteNonQuery();
        }

        // A file made before manual capture is brought up to date, once. Foreign keys are off so that charges can be
        // rebuilt under the refunds that refer to it, and checked before the migration commits.
        using var migrating = new SqliteConnection(new SqliteConnectionStringBuilder(connectionString) { ForeignKeys = false }.ToString());
        migrating.Open();
        using var transaction = migrating.BeginTransaction(deferred: false);
        using var version = migrating.CreateCommand();
        version.Transaction = transaction;
        version.CommandText = "PRAGMA user_version;";
        if (Convert.ToInt64(version.ExecuteScalar(), CultureInfo.InvariantCulture) >= 1)
        {
            return;
        }

        using var migrate = migrating.CreateCommand();
        migrate.Transaction = transaction;
        migrate.CommandText = ManualCaptureMigration;
        migrate.ExecuteNonQuery();
        using var check = migrating.CreateCommand();
        check.Transaction = transaction;
        check.CommandText = "PRAGMA foreign_key_check;";
        if (check.ExecuteScalar() is not null)
        {
            throw new InvalidOperationException("The processor's manual-capture migration would leave a refund without its charge.");
        }

        transaction.Commit();
    }

    /// <summary>
    /// Records the charge a key makes, or finds the one it made. <paramref name="status"/> is <c>succeeded</c> or
    /// <c>declined</c>; a charge made with <c>capture: false</c> that the network approves only authorises its amount, for
    /// <paramref name="authorizationLifetime"/>.
    /// </summary>
    public async Task<ChargeRecord> ChargeAsync(string key, ChargeRequest request, string status, TimeSpan authorizationLifetime, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                INSERT INTO charges (id, idempotency_key, reference, amount, currency, source, status, captured, expires_at, created_at)
                VALUES ($id, $key, $reference, $amount, $currency, $source, $status, $captured, $expires_at, $now)
                ON CONFLICT (idempotency_key) DO NOTHING;
                """;
            var now = time.GetUtcNow();
            var authorizeOnly = request.Capture == false && status == "succeeded";
            command.Parameters.AddWithValue("$id", "ch_" + Guid.NewGuid().ToString("N"));
            command.Parameters.AddWithValue("$key", key);
            command.Parameters.AddWithValue("$reference", request.Reference);
            command.Parameters.AddWithValue("$amount", request.Amount);
            command.Parameters.AddWithValue("$currency", request.Currency);
            command.Parameters.AddWithValue("$source", request.Source);
            command.Parameters.AddWithValue("$status", authorizeOnly ? "requires_capture" : status);
            command.Parameters.AddWithValue("$captured", status == "succeeded" && !authorizeOnly ? request.Amount : 0);
            command.Parameters.AddWithValue("$expires_at", authorizeOnly ? (now + authorizationLifetime).ToUnixTimeMilliseconds() : DBNull.Value);
            command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            return (await ReadChargesAsync(connection, null, "WHERE idempotency_key = $key", key, cancellationToken).ConfigureAwait(false))[0];
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
                update.CommandText = $"UPDATE charges SET refunded = refunded + $amount WHERE id = $charge AND status = 'succeeded' AND refunded + $amount <= captured AND source <> '{ProcessorSimulator.RefundRefusedSource}';";
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

    /// <summary>
    /// Captures <paramref name="amount"/> (all of it when null) of an authorisation, releasing the rest, or cancels it
    /// (<paramref name="amount"/> ignored): once per key. A key that already did it gets the charge as it now stands; an
    /// authorisation that is no longer awaiting capture, or has expired, is refused and nothing changes.
    /// </summary>
    public async Task<ChargeActionResult> ActAsync(string key, string chargeId, ChargeActionKind kind, long? amount, CancellationToken cancellationToken)
    {
        var name = kind == ChargeActionKind.Capture ? "capture" : "cancel";
        await _writes.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            using var connection = Open();
            using var transaction = connection.BeginTransaction(deferred: false);
            using (var done = connection.CreateCommand())
            {
                done.Transaction = transaction;
                done.CommandText = "SELECT charge_id, kind FROM charge_actions WHERE idempotency_key = $key;";
                done.Parameters.AddWithValue("$key", key);
                using var reader = await done.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                if (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    // The key did this already: its first result, never a second capture.
                    return reader.GetString(0) == chargeId && reader.GetString(1) == name
                        ? new ChargeActionResult(ChargeActionOutcome.Done, await FindChargeAsync(connection, transaction, chargeId, cancellationToken).ConfigureAwait(false))
                        : new ChargeActionResult(ChargeActionOutcome.KeyReused, null);
                }
            }

            var charge = await FindChargeAsync(connection, transaction, chargeId, cancellationToken).ConfigureAwait(false);
            if (charge is null)
            {
                return new ChargeActionResult(ChargeActionOutcome.NotFound, null);
            }

            if (charge.Status == "expired")
            {
                return new ChargeActionResult(ChargeActionOutcome.Expired, charge);
            }

            if (charge.Status != "requires_capture")
            {
                return new ChargeActionResult(ChargeActionOutcome.NotAuthorized, charge);
            }

            var captured = kind == ChargeActionKind.Capture ? amount ?? charge.Amount : 0;
            if (captured > charge.Amount)
            {
                return new ChargeActionResult(ChargeActionOutcome.AmountTooLarge, charge);
            }

            var now = time.GetUtcNow().ToUnixTimeMilliseconds();
            using (var update = connection.CreateCommand())
            {
                // Conditional on the authorisation still awaiting capture, and unexpired, at this instant.
                update.Transaction = transaction;
                update.CommandText = "UPDATE charges SET status = $status, captured = $captured WHERE id = $id AND status = 'requires_capture' AND expires_at > $now;";
                update.Parameters.AddWithValue("$status", kind == ChargeActionKind.Capture ? "succeeded" : "canceled");
                update.Parameters.AddWithValue("$captured", captured);
                update.Parameters.AddWithValue("$id", chargeId);
                update.Parameters.AddWithValue("$now", now);
                if (await update.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) != 1)
                {
                    return new ChargeActionResult(ChargeActionOutcome.Expired, charge);
                }
            }

            using (var insert = connection.CreateCommand())
            {
                insert.Transaction = transaction;
                insert.CommandText = "INSERT INTO charge_actions (idempotency_key, charge_id, kind, amount, created_at) VALUES ($key, $charge, $kind, $amount, $now);";
                insert.Parameters.AddWithValue("$key", key);
                insert.Parameters.AddWithValue("$charge", chargeId);
                insert.Parameters.AddWithValue("$kind", name);
                insert.Parameters.AddWithValue("$amount", captured);
                insert.Parameters.AddWithValue("$now", now);
                await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            var result = await FindChargeAsync(connection, transaction, chargeId, cancellationToken).ConfigureAwait(false);
            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            return new ChargeActionResult(ChargeActionOutcome.Done, result);
        }
        finally
        {
            _writes.Release();
        }
    }

    public async Task<List<ChargeRecord>> ListChargesAsync(CancellationToken cancellationToken)
    {
        using var connection = Open();
        return await ReadChargesAsync(connection, null, "ORDER BY created_at, id", null, cancellationToken).ConfigureAwait(false);
    }

    public async Task<List<RefundRecord>> ListRefundsAsync(CancellationToken cancellationToken)
    {
        using var connection = Open();
        return await ReadRefundsAsync(connection, null, null, cancellationToken).ConfigureAwait(false);
    }

    private async Task<ChargeRecord?> FindChargeAsync(SqliteConnection connection, SqliteTransaction transaction, string id, CancellationToken cancellationToken)
        => (await ReadChargesAsync(connection, transaction, "WHERE id = $key", id, cancellationToken).ConfigureAwait(false)).SingleOrDefault();

    private async Task<List<ChargeRecord>> ReadChargesAsync(SqliteConnection connection, SqliteTransaction? transaction, string where, string? key, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = $"SELECT {ChargeColumns} FROM charges {where};";
        command.Parameters.AddWithValue("$now", time.GetUtcNow().ToUnixTimeMilliseconds());
        if (key is not null)
        {
            command.Parameters.AddWithValue("$key", key);
        }

        using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var charges = new List<ChargeRecord>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            charges.Add(new ChargeRecord(
                reader.GetString(0), reader.GetString(1), reader.GetInt64(2), reader.GetString(3), reader.GetString(4), reader.GetString(5), reader.GetInt64(6), reader.GetString(7),
                reader.GetInt64(8), reader.IsDBNull(9) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(9))));
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
