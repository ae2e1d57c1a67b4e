using System.Globalization;

namespace Idem.Sqlite;

/// <summary>
/// The statements the store runs, formatted once per store with its table name (validated as an identifier and quoted).
/// Every value is a parameter. Times are unix milliseconds on the store's clock; <c>state</c> is 0 while in progress and
/// 1 once completed; <c>owner</c> is the claim's token while in progress and NULL once completed.
/// </summary>
internal sealed class SqliteSql
{
    private const string CreateSchemaTemplate = """
        CREATE TABLE IF NOT EXISTS "{0}" (
            key TEXT NOT NULL PRIMARY KEY,
            fingerprint TEXT NOT NULL,
            state INTEGER NOT NULL,
            owner TEXT NULL,
            created_at INTEGER NOT NULL,
            lease_expires_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            status INTEGER NULL,
            headers BLOB NULL,
            body BLOB NULL,
            body_truncated INTEGER NOT NULL DEFAULT 0,
            recovery_point TEXT NULL,
            member_digest BLOB NULL
        );
        CREATE INDEX IF NOT EXISTS "{0}_expires_at" ON "{0}" (expires_at);
        """;

    // Tables made by an earlier version gain the columns added since, each only when it is missing: the recovery point,
    // then the member digest.
    private const string AddRecoveryPointTemplate = """
        ALTER TABLE "{0}" ADD COLUMN recovery_point TEXT NULL;
        """;

    private const string AddMemberDigestTemplate = """
        ALTER TABLE "{0}" ADD COLUMN member_digest BLOB NULL;
        """;

    private const string AddedColumnsTemplate = """
        SELECT name FROM pragma_table_info('{0}') WHERE name IN ('recovery_point', 'member_digest');
        """;

    // One statement decides the claim. It inserts a new key, or replaces the row when it is past retention (any
    // fingerprint: the key is new again) or when its in-progress holder's lease ran out and the fingerprint is the same
    // (a takeover, which keeps created_at and the recovery point the last holder reached). Either way the claim's member
    // digest replaces the row's. In the DO UPDATE, bare column names are the existing row's values (all of them as they
    // were before this update) and excluded.* the proposed row. RETURNING yields a row only when ours.
    private const string ClaimTemplate = """
        INSERT INTO "{0}" (key, fingerprint, state, owner, created_at, lease_expires_at, expires_at, status, headers, body, body_truncated, member_digest)
        VALUES (@key, @fingerprint, 0, @owner, @now, @lease_expires_at, @expires_at, NULL, NULL, NULL, 0, @member_digest)
        ON CONFLICT (key) DO UPDATE SET
            fingerprint = excluded.fingerprint,
            member_digest = excluded.member_digest,
            state = 0,
            owner = excluded.owner,
            created_at = CASE WHEN expires_at <= @now AND (state = 1 OR lease_expires_at <= @now) THEN excluded.created_at ELSE created_at END,
            lease_expires_at = excluded.lease_expires_at,
            expires_at = excluded.expires_at,
            status = NULL,
            headers = NULL,
            body = NULL,
            body_truncated = 0,
            recovery_point = CASE WHEN expires_at <= @now AND (state = 1 OR lease_expires_at <= @now) THEN NULL ELSE recovery_point END
        WHERE (expires_at <= @now AND (state = 1 OR lease_expires_at <= @now))
           OR (state = 0 AND fingerprint = excluded.fingerprint AND lease_expires_at <= @now)
        RETURNING owner, recovery_point;
        """;

    // Run in the claim's transaction when the claim was not ours: what holds the key.
    private const string SelectHolderTemplate = """
        SELECT fingerprint, state, lease_expires_at, status, headers, body, body_truncated, member_digest
        FROM "{0}" WHERE key = @key;
        """;

    private const string CompleteTemplate = """
        UPDATE "{0}"
        SET state = 1, owner = NULL, expires_at = @expires_at, status = @status, headers = @headers, body = @body, body_truncated = @body_truncated
        WHERE key = @key AND owner = @owner AND state = 0;
        """;

    // The record never expires while its lease runs.
    private const string RenewTemplate = """
        UPDATE "{0}"
        SET lease_expires_at = @lease_expires_at, expires_at = MAX(expires_at, @lease_expires_at)
        WHERE key = @key AND owner = @owner AND state = 0;
        """;

    // A record that reached a recovery point is parked there (no owner, lease ended now) instead of deleted, so the next
    // claim takes it over at once and resumes. The two statements' conditions exclude each other; each is atomic.
    private const string ReleaseTemplate = """
        DELETE FROM "{0}" WHERE key = @key AND owner = @owner AND state = 0 AND recovery_point IS NULL;
        UPDATE "{0}" SET owner = NULL, lease_expires_at = MIN(lease_expires_at, @now)
        WHERE key = @key AND owner = @owner AND state = 0 AND recovery_point IS NOT NULL;
        """;

    private const string SetRecoveryPointTemplate = """
        UPDATE "{0}"
        SET recovery_point = @recovery_point, lease_expires_at = @lease_expires_at, expires_at = MAX(expires_at, @lease_expires_at)
        WHERE key = @key AND owner = @owner AND state = 0;
        """;

    private const string GetTemplate = """
        SELECT fingerprint, state, created_at, lease_expires_at, expires_at, recovery_point, status, headers, body, body_truncated, member_digest
        FROM "{0}"
        WHERE key = @key AND NOT (expires_at <= @now AND (state = 1 OR lease_expires_at <= @now));
        """;

    // DELETE … LIMIT needs a compile option the bundled SQLite lacks, hence the subquery. An in-progress record is purged
    // only once its lease has run out too.
    private const string PurgeTemplate = """
        DELETE FROM "{0}" WHERE key IN (
            SELECT key FROM "{0}"
            WHERE expires_at < @expired_before AND (state = 1 OR lease_expires_at < @expired_before)
            LIMIT @batch_size);
        """;

    public SqliteSql(string tableName)
    {
        CreateSchema = Format(CreateSchemaTemplate, tableName);
        Claim = Format(ClaimTemplate, tableName);
        SelectHolder = Format(SelectHolderTemplate, tableName);
        Complete = Format(CompleteTemplate, tableName);
        Renew = Format(RenewTemplate, tableName);
        Release = Format(ReleaseTemplate, tableName);
        SetRecoveryPoint = Format(SetRecoveryPointTemplate, tableName);
        AddRecoveryPoint = Format(AddRecoveryPointTemplate, tableName);
        AddMemberDigest = Format(AddMemberDigestTemplate, tableName);
        AddedColumns = Format(AddedColumnsTemplate, tableName);
        Get = Format(GetTemplate, tableName);
        Purge = Format(PurgeTemplate, tableName);
    }

    public string CreateSchema { get; }

    public string Claim { get; }

    public string SelectHolder { get; }

    public string Complete { get; }

    public string Renew { get; }

    public string Release { get; }

    public string SetRecoveryPoint { get; }

    public string AddRecoveryPoint { get; }

    public string AddMemberDigest { get; }

    public string AddedColumns { get; }

    public string Get { get; }

    public string Purge { get; }

    private static string Format(string template, string tableName) => string.Format(CultureInfo.InvariantCulture, template, tableName);
}
