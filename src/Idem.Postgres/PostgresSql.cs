using System.Globalization;

namespace Idem.Postgres;

/// <summary>
/// The statements the store runs, formatted once per store with its schema and table (validated as identifiers, then
/// quoted). Every value is a positional parameter. <c>state</c> is 0 while in progress and 1 once completed;
/// <c>owner_token</c> is the claim's token while in progress and NULL once completed. Every time comes from the database
/// clock, never the application's, so nodes with skewed clocks agree.
/// </summary>
internal sealed class PostgresSql
{
    // Past retention: the key is new again, for any fingerprint. {now} is the time the statement decides at.
    private const string PastRetention = "({row}.expires_at <= {now} AND ({row}.state = 1 OR {row}.lease_expires_at <= {now}))";

    // Claimable: past retention, or held in progress by an expired lease for the same fingerprint (a takeover).
    private const string Claimable = "(" + PastRetention + " OR ({row}.state = 0 AND {row}.fingerprint = {fingerprint} AND {row}.lease_expires_at <= {now}))";

    private const string CreateTableTemplate = """
        CREATE TABLE IF NOT EXISTS {table} (
            key text COLLATE "C" NOT NULL PRIMARY KEY,
            fingerprint text NOT NULL,
            state smallint NOT NULL,
            owner_token uuid NULL,
            created_at timestamptz NOT NULL,
            lease_expires_at timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            status integer NULL,
            headers bytea NULL,
            body bytea NULL,
            body_truncated boolean NOT NULL DEFAULT false,
            recovery_point text NULL,
            member_digest bytea NULL
        );
        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS recovery_point text NULL;
        ALTER TABLE {table} ADD COLUMN IF NOT EXISTS member_digest bytea NULL;
        CREATE INDEX IF NOT EXISTS {index} ON {table} (expires_at);
        """;

    // The claim's first try: two statements sent together, one round trip, that settle every claim of a new key and every
    // answer a live record gives (a replay, a mismatch, a running lease), each far cheaper to run than the full claim
    // below, whose CTE and conditional DO UPDATE the server sets up on every execution.
    //
    // Insert: $1 key, $2 fingerprint, $3 lease, $4 retention, $5 the member digest, $6 a fresh owner token. A plain insert
    // that does nothing on a conflict. The clock is read (and the lock timeout set, as in the full claim) before the
    // insert meets a row, so an uncommitted conflicting row makes it wait at most the lock timeout, and then it inserts
    // after a rollback or does nothing after a commit.
    private const string InsertClaimTemplate = """
        INSERT INTO {table} (key, fingerprint, state, owner_token, created_at, lease_expires_at, expires_at, body_truncated, member_digest)
        SELECT $1, $2, 0, $6, c.now, c.now + $3, c.now + greatest($3, $4), false, $5
        FROM (SELECT clock_timestamp() AS now, set_config('lock_timeout', '{lock_timeout}', true) AS lock_timeout) AS c
        ON CONFLICT (key) DO NOTHING
        """;

    // Read: $1 key, $2 fingerprint, $3 the owner token the insert proposed. Its own snapshot, taken after the insert: the
    // row is ours (the insert made it: the owner token comes back, a fresh claim has no recovery point), or it is one that
    // is not claimable, which is the answer, in the full claim's columns. No row (a claimable record, which needs the full
    // claim's takeover, or one deleted between the two statements) sends the claim to the full statement.
    private const string ReadClaimTemplate = """
        SELECT CASE WHEN t.owner_token = $3 THEN t.owner_token END, t.recovery_point, t.fingerprint,
               CASE WHEN t.fingerprint <> $2 THEN t.member_digest END, t.state, t.lease_expires_at - c.now,
               t.status, t.body_truncated, t.headers, t.body
        FROM {table} AS t, (SELECT clock_timestamp() AS now) AS c
        WHERE t.key = $1 AND (t.owner_token = $3 OR NOT {cur_claimable})
        """;

    // The full claim: one statement, one round trip, whatever it finds. $1 key, $2 fingerprint, $3 lease, $4 retention, $5 the
    // member digest (NULL for none).
    //
    // clock: the decision time and a fresh owner token, computed once (a CTE with volatile functions is materialised,
    //   never inlined). set_config(..., true) is SET LOCAL: it bounds the wait below (and, in a transactional request,
    //   the rest of its transaction); running out raises 55P03, which the store answers as InProgress.
    // cur: the row as this statement's snapshot sees it. When it is there and not claimable (a replay, a mismatch, a
    //   running lease), that is the answer: a plain read, linearised at the snapshot, with no lock and no write, so any
    //   number of concurrent replays never touch the record.
    // ins: otherwise (no row, or one the snapshot sees as claimable) the INSERT … ON CONFLICT decides on the row's
    //   latest committed version. In READ COMMITTED a conflicting row that is uncommitted (a transactional request still
    //   running, a concurrent claim) makes the insert wait until that transaction ends: after a commit it locks the new
    //   version, after a rollback it inserts. That latest version may be invisible to the snapshot (inserted after it was
    //   taken), so a read of the table beside the insert could find nothing and a WHERE on DO UPDATE that fails would
    //   return nothing either: the row is locked but not returned. Hence DO UPDATE has no WHERE: every column is a CASE
    //   that writes the new claim when the locked version is claimable and writes the version's own values back
    //   otherwise, and RETURNING then always yields the latest version, ours or not. The write-back costs a row version,
    //   only when a race put a live row there after the snapshot; content and owner stay as they were. In DO UPDATE,
    //   t.* is the locked version and excluded.* the proposed row, whose created_at carries the clock.
    // Exactly one row comes back: from ins whenever it runs (it inserts or updates, never skips), from cur otherwise. Its
    // owner token is non-NULL only when the claim is ours; a takeover keeps (and returns) the recovery point the last
    // holder reached, a fresh claim clears it. Any claim writes its member digest, which comes back only to a request with
    // another fingerprint (a mismatch), so a replay does not carry it. The body comes last: it is read sequentially.
    private const string ClaimTemplate = """
        WITH clock AS (
            SELECT clock_timestamp() AS now, gen_random_uuid() AS token, set_config('lock_timeout', '{lock_timeout}', true) AS lock_timeout
        ),
        cur AS (
            SELECT t.fingerprint, t.member_digest, t.state, t.lease_expires_at, t.status, t.headers, t.body, t.body_truncated,
                   {cur_claimable} AS claimable
            FROM {table} AS t, clock AS c
            WHERE t.key = $1
        ),
        ins AS (
            INSERT INTO {table} AS t (key, fingerprint, state, owner_token, created_at, lease_expires_at, expires_at, status, headers, body, body_truncated, member_digest)
            SELECT $1, $2, 0, c.token, c.now, c.now + $3, c.now + greatest($3, $4), NULL, NULL, NULL, false, $5
            FROM clock AS c
            WHERE NOT EXISTS (SELECT 1 FROM cur WHERE NOT cur.claimable)
            ON CONFLICT (key) DO UPDATE SET
                fingerprint = CASE WHEN {take} THEN excluded.fingerprint ELSE t.fingerprint END,
                state = CASE WHEN {take} THEN 0 ELSE t.state END,
                owner_token = CASE WHEN {take} THEN excluded.owner_token ELSE t.owner_token END,
                created_at = CASE WHEN {fresh} THEN excluded.created_at ELSE t.created_at END,
                lease_expires_at = CASE WHEN {take} THEN excluded.lease_expires_at ELSE t.lease_expires_at END,
                expires_at = CASE WHEN {take} THEN excluded.expires_at ELSE t.expires_at END,
                status = CASE WHEN {take} THEN NULL ELSE t.status END,
                headers = CASE WHEN {take} THEN NULL ELSE t.headers END,
                body = CASE WHEN {take} THEN NULL ELSE t.body END,
                body_truncated = CASE WHEN {take} THEN false ELSE t.body_truncated END,
                recovery_point = CASE WHEN {fresh} THEN NULL ELSE t.recovery_point END,
                member_digest = CASE WHEN {take} THEN excluded.member_digest ELSE t.member_digest END
            RETURNING t.owner_token, t.recovery_point, t.fingerprint, t.member_digest, t.state, t.lease_expires_at, t.status, t.headers, t.body, t.body_truncated
        )
        SELECT CASE WHEN ins.owner_token = c.token THEN c.token END, ins.recovery_point, ins.fingerprint,
               CASE WHEN ins.fingerprint <> $2 THEN ins.member_digest END, ins.state, ins.lease_expires_at - c.now,
               ins.status, ins.body_truncated, ins.headers, ins.body
        FROM ins, clock AS c
        UNION ALL
        SELECT NULL, NULL, cur.fingerprint, CASE WHEN cur.fingerprint <> $2 THEN cur.member_digest END, cur.state, cur.lease_expires_at - c.now,
               cur.status, cur.body_truncated, cur.headers, cur.body
        FROM cur, clock AS c
        WHERE NOT cur.claimable
        """;

    // $1 key, $2 owner, $3 retention, $4 status, $5 headers, $6 body, $7 truncated. clock_timestamp(), not now(): in a
    // transactional request now() is when its transaction began, and retention counts from completion.
    private const string CompleteTemplate = """
        UPDATE {table} AS t
        SET state = 1, owner_token = NULL, expires_at = c.now + $3, status = $4, headers = $5, body = $6, body_truncated = $7
        FROM (SELECT clock_timestamp() AS now) AS c
        WHERE t.key = $1 AND t.owner_token = $2 AND t.state = 0
        """;

    // $1 key, $2 owner, $3 lease. The record never expires while its lease runs.
    private const string RenewTemplate = """
        UPDATE {table} AS t
        SET lease_expires_at = c.now + $3, expires_at = greatest(t.expires_at, c.now + $3)
        FROM (SELECT clock_timestamp() AS now) AS c
        WHERE t.key = $1 AND t.owner_token = $2 AND t.state = 0
        """;

    // $1 key, $2 owner. A record that reached a recovery point is parked there (no owner, lease ended) rather than
    // deleted, so the next claim takes it over at once and resumes. The two branches exclude each other.
    private const string ReleaseTemplate = """
        WITH deleted AS (
            DELETE FROM {table} WHERE key = $1 AND owner_token = $2 AND state = 0 AND recovery_point IS NULL
            RETURNING 1
        ),
        parked AS (
            UPDATE {table} AS t SET owner_token = NULL, lease_expires_at = least(t.lease_expires_at, clock_timestamp())
            WHERE t.key = $1 AND t.owner_token = $2 AND t.state = 0 AND t.recovery_point IS NOT NULL
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM deleted) + (SELECT count(*) FROM parked)
        """;

    // $1 key, $2 owner, $3 lease, $4 recovery point. Renews the lease too.
    private const string SetRecoveryPointTemplate = """
        UPDATE {table} AS t
        SET recovery_point = $4, lease_expires_at = c.now + $3, expires_at = greatest(t.expires_at, c.now + $3)
        FROM (SELECT clock_timestamp() AS now) AS c
        WHERE t.key = $1 AND t.owner_token = $2 AND t.state = 0
        """;

    // $1 key.
    private const string GetTemplate = """
        SELECT fingerprint, state, created_at, lease_expires_at, expires_at, recovery_point, member_digest, status, body_truncated, headers, body
        FROM {table}
        WHERE key = $1 AND NOT (expires_at <= now() AND (state = 1 OR lease_expires_at <= now()))
        """;

    // $1 expired before, $2 batch size. The caller's time is capped by the database clock, so a caller ahead of it can
    // never purge a record still within its retention or an in-progress record whose lease runs. SKIP LOCKED passes over
    // rows a transaction holds (a transactional takeover, a claim deciding on it), and concurrent purgers split the work.
    private const string PurgeTemplate = """
        DELETE FROM {table}
        WHERE ctid = ANY (ARRAY(
            SELECT ctid FROM {table}
            WHERE expires_at < least($1, now()) AND (state = 1 OR lease_expires_at < least($1, now()))
            LIMIT $2
            FOR UPDATE SKIP LOCKED))
        """;

    public PostgresSql(string schema, string tableName, TimeSpan lockTimeout)
    {
        var table = $"{Quote(schema)}.{Quote(tableName)}";
        var lockTimeoutSetting = ((long)Math.Ceiling(lockTimeout.TotalMilliseconds)).ToString(CultureInfo.InvariantCulture) + "ms";
        var currentClaimable = Condition(Claimable, "t", "c.now", "$2");
        QualifiedTable = table;
        QualifiedIndex = $"{Quote(schema)}.{Quote(tableName + "_expires_at")}";
        CreateTable = Format(CreateTableTemplate, table).Replace("{index}", Quote(tableName + "_expires_at"), StringComparison.Ordinal);
        Claim = Format(ClaimTemplate, table)
            .Replace("{cur_claimable}", currentClaimable, StringComparison.Ordinal)
            .Replace("{take}", Condition(Claimable, "t", "excluded.created_at", "excluded.fingerprint"), StringComparison.Ordinal)
            .Replace("{fresh}", Condition(PastRetention, "t", "excluded.created_at", ""), StringComparison.Ordinal)
            .Replace("{lock_timeout}", lockTimeoutSetting, StringComparison.Ordinal);
        InsertClaim = Format(InsertClaimTemplate, table)
            .Replace("{lock_timeout}", lockTimeoutSetting, StringComparison.Ordinal);
        ReadClaim = Format(ReadClaimTemplate, table)
            .Replace("{cur_claimable}", currentClaimable, StringComparison.Ordinal);
        Complete = Format(CompleteTemplate, table);
        Renew = Format(RenewTemplate, table);
        Release = Format(ReleaseTemplate, table);
        SetRecoveryPoint = Format(SetRecoveryPointTemplate, table);
        Get = Format(GetTemplate, table);
        Purge = Format(PurgeTemplate, table);
    }

    /// <summary>The table as SQL names it, schema-qualified and quoted.</summary>
    public string QualifiedTable { get; }

    /// <summary>The expiry index as SQL names it, schema-qualified and quoted.</summary>
    public string QualifiedIndex { get; }

    public string CreateTable { get; }

    public string Claim { get; }

    public string InsertClaim { get; }

    public string ReadClaim { get; }

    public string Complete { get; }

    public string Renew { get; }

    public string Release { get; }

    public string SetRecoveryPoint { get; }

    public string Get { get; }

    public string Purge { get; }

    // Names are validated as plain identifiers before they get here; quoting keeps their case and keeps keywords usable.
    public static string Quote(string identifier) => "\"" + identifier + "\"";

    private static string Format(string template, string table) => template.Replace("{table}", table, StringComparison.Ordinal);

    private static string Condition(string template, string row, string now, string fingerprint)
        => template.Replace("{row}", row, StringComparison.Ordinal)
            .Replace("{now}", now, StringComparison.Ordinal)
            .Replace("{fingerprint}", fingerprint, StringComparison.Ordinal);
}
