namespace Idem.Payments.Data;

/// <summary>
/// The ledger's schema on SQLite, as an append-only list of migrations: never edit or reorder one that has shipped, append
/// a new one (and its twin in <see cref="PostgresSchema"/>).
/// </summary>
internal static class SqliteSchema
{
    public const string CreateMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    INTEGER NOT NULL PRIMARY KEY,
            name       TEXT    NOT NULL,
            applied_at TEXT    NOT NULL
        ) STRICT;
        """;

    // Amounts and balances are INTEGER minor units. The CHECKs restate the ledger's rules so that a bug fails loudly
    // (and rolls back) instead of corrupting money.
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        new(1, "ledger", """
            CREATE TABLE IF NOT EXISTS accounts (
                id         TEXT    NOT NULL PRIMARY KEY,
                tenant_id  TEXT    NOT NULL,
                kind       TEXT    NOT NULL CHECK (kind IN ('customer', 'funding')),
                currency   TEXT    NOT NULL CHECK (length(currency) = 3),
                balance    INTEGER NOT NULL,
                version    INTEGER NOT NULL CHECK (version >= 1),
                created_at TEXT    NOT NULL,
                CHECK (kind <> 'customer' OR balance BETWEEN 0 AND 1000000000000000000),
                CHECK (kind <> 'funding' OR balance BETWEEN -1000000000000000000 AND 0)
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_accounts_tenant ON accounts (tenant_id, created_at);
            CREATE UNIQUE INDEX IF NOT EXISTS ux_accounts_funding ON accounts (tenant_id, currency) WHERE kind = 'funding';

            CREATE TABLE IF NOT EXISTS deposits (
                id            TEXT    NOT NULL PRIMARY KEY,
                tenant_id     TEXT    NOT NULL,
                account_id    TEXT    NOT NULL REFERENCES accounts (id),
                amount        INTEGER NOT NULL CHECK (amount > 0),
                currency      TEXT    NOT NULL,
                balance_after INTEGER NOT NULL,
                created_at    TEXT    NOT NULL
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_deposits_account ON deposits (account_id);

            CREATE TABLE IF NOT EXISTS transfers (
                id              TEXT    NOT NULL PRIMARY KEY,
                tenant_id       TEXT    NOT NULL,
                from_account_id TEXT    NOT NULL REFERENCES accounts (id),
                to_account_id   TEXT    NOT NULL REFERENCES accounts (id),
                amount          INTEGER NOT NULL CHECK (amount > 0),
                currency        TEXT    NOT NULL,
                status          TEXT    NOT NULL,
                created_at      TEXT    NOT NULL,
                CHECK (from_account_id <> to_account_id)
            ) STRICT;

            CREATE TABLE IF NOT EXISTS ledger_entries (
                seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                tenant_id     TEXT    NOT NULL,
                account_id    TEXT    NOT NULL REFERENCES accounts (id),
                amount        INTEGER NOT NULL CHECK (amount <> 0),
                currency      TEXT    NOT NULL,
                balance_after INTEGER NOT NULL,
                movement_type TEXT    NOT NULL CHECK (movement_type IN ('deposit', 'transfer')),
                movement_id   TEXT    NOT NULL,
                created_at    TEXT    NOT NULL
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_account ON ledger_entries (account_id, seq);
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_movement ON ledger_entries (movement_id);
            """),

        // A tenant names its customers: the id is the client's, unique per tenant. metadata is a JSON object of strings.
        new(2, "customers", """
            CREATE TABLE IF NOT EXISTS customers (
                tenant_id  TEXT    NOT NULL,
                id         TEXT    NOT NULL,
                name       TEXT    NOT NULL,
                email      TEXT    NULL,
                metadata   TEXT    NOT NULL,
                version    INTEGER NOT NULL CHECK (version >= 1),
                created_at TEXT    NOT NULL,
                updated_at TEXT    NOT NULL,
                PRIMARY KEY (tenant_id, id)
            ) STRICT;
            """),

        new(3, "account details", """
            ALTER TABLE accounts ADD COLUMN nickname TEXT NULL;
            ALTER TABLE accounts ADD COLUMN metadata TEXT NOT NULL DEFAULT '{}';
            """),

        // Card payments and refunds. A payment is pending from phase one until the processor's answer is recorded; the
        // key that made it is unique per tenant, so a key reused after its record expired finds its payment again.
        // SQLite cannot change a CHECK in place: ledger_entries is rebuilt to accept the two new movement types.
        new(4, "payments and refunds", """
            CREATE TABLE IF NOT EXISTS payments (
                id              TEXT    NOT NULL PRIMARY KEY,
                tenant_id       TEXT    NOT NULL,
                account_id      TEXT    NOT NULL REFERENCES accounts (id),
                amount          INTEGER NOT NULL CHECK (amount > 0),
                currency        TEXT    NOT NULL,
                source          TEXT    NOT NULL,
                status          TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined')),
                idempotency_key TEXT    NOT NULL,
                charge_id       TEXT    NULL,
                decline_code    TEXT    NULL,
                refunded        INTEGER NOT NULL CHECK (refunded >= 0 AND refunded <= amount),
                created_at      TEXT    NOT NULL,
                updated_at      TEXT    NOT NULL,
                UNIQUE (tenant_id, idempotency_key),
                CHECK (status = 'succeeded' OR refunded = 0)
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_payments_pending ON payments (created_at) WHERE status = 'pending';

            CREATE TABLE IF NOT EXISTS refunds (
                id                  TEXT    NOT NULL PRIMARY KEY,
                tenant_id           TEXT    NOT NULL,
                payment_id          TEXT    NOT NULL REFERENCES payments (id),
                amount              INTEGER NOT NULL CHECK (amount > 0),
                currency            TEXT    NOT NULL,
                status              TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded')),
                idempotency_key     TEXT    NOT NULL,
                processor_refund_id TEXT    NULL,
                created_at          TEXT    NOT NULL,
                updated_at          TEXT    NOT NULL,
                UNIQUE (tenant_id, idempotency_key)
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_refunds_payment ON refunds (payment_id);
            CREATE INDEX IF NOT EXISTS ix_refunds_pending ON refunds (created_at) WHERE status = 'pending';

            CREATE TABLE ledger_entries_v4 (
                seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                tenant_id     TEXT    NOT NULL,
                account_id    TEXT    NOT NULL REFERENCES accounts (id),
                amount        INTEGER NOT NULL CHECK (amount <> 0),
                currency      TEXT    NOT NULL,
                balance_after INTEGER NOT NULL,
                movement_type TEXT    NOT NULL CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund')),
                movement_id   TEXT    NOT NULL,
                created_at    TEXT    NOT NULL
            ) STRICT;
            INSERT INTO ledger_entries_v4 (seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at)
                SELECT seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at FROM ledger_entries;
            DROP TABLE ledger_entries;
            ALTER TABLE ledger_entries_v4 RENAME TO ledger_entries;
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_account ON ledger_entries (account_id, seq);
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_movement ON ledger_entries (movement_id);
            """),

        // Owned by the statements consumer (Statements/StatementsHandler), written only through its inbox transaction: one
        // line per event per account, so the primary key makes a second line for one event fail loudly.
        new(5, "statement lines", """
            CREATE TABLE IF NOT EXISTS statement_lines (
                tenant_id   TEXT    NOT NULL,
                account_id  TEXT    NOT NULL,
                month       TEXT    NOT NULL CHECK (length(month) = 7),
                event_id    TEXT    NOT NULL,
                type        TEXT    NOT NULL,
                amount      INTEGER NOT NULL CHECK (amount <> 0),
                currency    TEXT    NOT NULL,
                occurred_at TEXT    NOT NULL,
                PRIMARY KEY (account_id, event_id)
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_statement_lines_month ON statement_lines (tenant_id, account_id, month, occurred_at);
            """),

        // A refund the processor refuses for good fails, and its money goes back to the merchant account as movement
        // refund_reversal. SQLite cannot change a CHECK in place: refunds and ledger_entries are rebuilt, rows and
        // sequence numbers kept.
        new(6, "failed refunds", """
            CREATE TABLE refunds_v6 (
                id                  TEXT    NOT NULL PRIMARY KEY,
                tenant_id           TEXT    NOT NULL,
                payment_id          TEXT    NOT NULL REFERENCES payments (id),
                amount              INTEGER NOT NULL CHECK (amount > 0),
                currency            TEXT    NOT NULL,
                status              TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
                idempotency_key     TEXT    NOT NULL,
                processor_refund_id TEXT    NULL,
                created_at          TEXT    NOT NULL,
                updated_at          TEXT    NOT NULL,
                UNIQUE (tenant_id, idempotency_key)
            ) STRICT;
            INSERT INTO refunds_v6 (id, tenant_id, payment_id, amount, currency, status, idempotency_key, processor_refund_id, created_at, updated_at)
                SELECT id, tenant_id, payment_id, amount, currency, status, idempotency_key, processor_refund_id, created_at, updated_at FROM refunds;
            DROP TABLE refunds;
            ALTER TABLE refunds_v6 RENAME TO refunds;
            CREATE INDEX IF NOT EXISTS ix_refunds_payment ON refunds (payment_id);
            CREATE INDEX IF NOT EXISTS ix_refunds_pending ON refunds (created_at) WHERE status = 'pending';

            CREATE TABLE ledger_entries_v6 (
                seq           INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
                id            TEXT    NOT NULL UNIQUE,
                tenant_id     TEXT    NOT NULL,
                account_id    TEXT    NOT NULL REFERENCES accounts (id),
                amount        INTEGER NOT NULL CHECK (amount <> 0),
                currency      TEXT    NOT NULL,
                balance_after INTEGER NOT NULL,
                movement_type TEXT    NOT NULL CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund', 'refund_reversal')),
                movement_id   TEXT    NOT NULL,
                created_at    TEXT    NOT NULL
            ) STRICT;
            INSERT INTO ledger_entries_v6 (seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at)
                SELECT seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at FROM ledger_entries;
            DROP TABLE ledger_entries;
            ALTER TABLE ledger_entries_v6 RENAME TO ledger_entries;
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_account ON ledger_entries (account_id, seq);
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_movement ON ledger_entries (movement_id);
            """),
        // The ledger's primitives. Accounts get their limits (an overdraft below zero, a cap on what they may hold) and
        // what holds reserve on them; a funding account's limits are the ledger's own (it may go down to -10^18 and never
        // above zero), so one rule serves every account. Entries get a hash chain per account (head_hash on the account is
        // the newest entry's hash) and the idempotency key and fingerprint of the request that made them. Holds, batches
        // and the fingerprint of the request that made each payment and refund are new. SQLite cannot change a CHECK in
        // place: accounts and ledger_entries are rebuilt, rows and sequence numbers kept (foreign keys are off while
        // migrations run, and checked before each commits).
        new(7, "ledger primitives", """
            CREATE TABLE accounts_v7 (
                id              TEXT    NOT NULL PRIMARY KEY,
                tenant_id       TEXT    NOT NULL,
                kind            TEXT    NOT NULL CHECK (kind IN ('customer', 'funding')),
                currency        TEXT    NOT NULL CHECK (length(currency) = 3),
                balance         INTEGER NOT NULL,
                version         INTEGER NOT NULL CHECK (version >= 1),
                created_at      TEXT    NOT NULL,
                nickname        TEXT    NULL,
                metadata        TEXT    NOT NULL DEFAULT '{}',
                overdraft_limit INTEGER NOT NULL DEFAULT 0 CHECK (overdraft_limit BETWEEN 0 AND 1000000000000000000),
                max_balance     INTEGER NOT NULL DEFAULT 1000000000000000000 CHECK (max_balance BETWEEN 0 AND 1000000000000000000),
                pending_debits  INTEGER NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
                pending_credits INTEGER NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
                head_hash       TEXT    NULL,
                CHECK (balance - pending_debits >= -overdraft_limit),
                CHECK (balance + pending_credits <= max_balance),
                CHECK (kind <> 'funding' OR (overdraft_limit = 1000000000000000000 AND max_balance = 0))
            ) STRICT;
            INSERT INTO accounts_v7 (id, tenant_id, kind, currency, balance, version, created_at, nickname, metadata, overdraft_limit, max_balance)
                SELECT id, tenant_id, kind, currency, balance, version, created_at, nickname, metadata,
                       CASE kind WHEN 'funding' THEN 1000000000000000000 ELSE 0 END,
                       CASE kind WHEN 'funding' THEN 0 ELSE 1000000000000000000 END
                FROM accounts;
            DROP TABLE accounts;
            ALTER TABLE accounts_v7 RENAME TO accounts;
            CREATE INDEX IF NOT EXISTS ix_accounts_tenant ON accounts (tenant_id, created_at);
            CREATE UNIQUE INDEX IF NOT EXISTS ux_accounts_funding ON accounts (tenant_id, currency) WHERE kind = 'funding';

            CREATE TABLE ledger_entries_v7 (
                seq             INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
                id              TEXT    NOT NULL UNIQUE,
                tenant_id       TEXT    NOT NULL,
                account_id      TEXT    NOT NULL REFERENCES accounts (id),
                amount          INTEGER NOT NULL CHECK (amount <> 0),
                currency        TEXT    NOT NULL,
                balance_after   INTEGER NOT NULL,
                movement_type   TEXT    NOT NULL CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund', 'refund_reversal', 'hold_capture')),
                movement_id     TEXT    NOT NULL,
                created_at      TEXT    NOT NULL,
                idempotency_key TEXT    NULL,
                fingerprint     TEXT    NULL,
                prev_hash       TEXT    NULL,
                hash            TEXT    NULL
            ) STRICT;
            INSERT INTO ledger_entries_v7 (seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at)
                SELECT seq, id, tenant_id, account_id, amount, currency, balance_after, movement_type, movement_id, created_at FROM ledger_entries;
            DROP TABLE ledger_entries;
            ALTER TABLE ledger_entries_v7 RENAME TO ledger_entries;
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_account ON ledger_entries (account_id, seq);
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_movement ON ledger_entries (movement_id);

            ALTER TABLE payments ADD COLUMN fingerprint TEXT NULL;
            ALTER TABLE refunds ADD COLUMN fingerprint TEXT NULL;

            CREATE TABLE IF NOT EXISTS holds (
                id              TEXT    NOT NULL PRIMARY KEY,
                tenant_id       TEXT    NOT NULL,
                from_account_id TEXT    NOT NULL REFERENCES accounts (id),
                to_account_id   TEXT    NOT NULL REFERENCES accounts (id),
                amount          INTEGER NOT NULL CHECK (amount > 0),
                currency        TEXT    NOT NULL,
                status          TEXT    NOT NULL CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
                captured_amount INTEGER NOT NULL DEFAULT 0 CHECK (captured_amount BETWEEN 0 AND amount),
                expires_at      INTEGER NOT NULL,
                created_at      TEXT    NOT NULL,
                updated_at      TEXT    NOT NULL,
                CHECK (from_account_id <> to_account_id),
                CHECK (status = 'captured' OR captured_amount = 0)
            ) STRICT;
            CREATE INDEX IF NOT EXISTS ix_holds_expiry ON holds (expires_at) WHERE status = 'pending';
            CREATE INDEX IF NOT EXISTS ix_holds_from ON holds (from_account_id) WHERE status = 'pending';
            CREATE INDEX IF NOT EXISTS ix_holds_to ON holds (to_account_id) WHERE status = 'pending';

            CREATE TABLE IF NOT EXISTS batches (
                id         TEXT    NOT NULL PRIMARY KEY,
                tenant_id  TEXT    NOT NULL,
                item_count INTEGER NOT NULL CHECK (item_count BETWEEN 1 AND 1000),
                created_at TEXT    NOT NULL
            ) STRICT;
            ALTER TABLE transfers ADD COLUMN batch_id TEXT NULL REFERENCES batches (id);
            ALTER TABLE transfers ADD COLUMN batch_index INTEGER NULL;
            CREATE UNIQUE INDEX IF NOT EXISTS ux_transfers_batch ON transfers (batch_id, batch_index) WHERE batch_id IS NOT NULL;
            """),

        // Manual capture. A payment made with capture: false is only authorised (requires_capture, until
        // authorization_expires_at); one capture (capturing, then succeeded with amount_captured) or one cancel
        // (canceling, then canceled) takes it out of that state, or it expires. The request that won records its key and
        // fingerprint (the capture's are on its ledger entries); capture_amount is what it asked for. Refunds stay within
        // amount_captured, which an automatic payment's success sets to its amount. SQLite cannot change a CHECK in
        // place: payments is rebuilt, rows kept (every existing payment is automatic; a succeeded one captured its
        // amount); refunds refer to it, and foreign keys are checked before the migration commits.
        new(8, "manual capture", """
            CREATE TABLE payments_v8 (
                id                       TEXT    NOT NULL PRIMARY KEY,
                tenant_id                TEXT    NOT NULL,
                account_id               TEXT    NOT NULL REFERENCES accounts (id),
                amount                   INTEGER NOT NULL CHECK (amount > 0),
                currency                 TEXT    NOT NULL,
                source                   TEXT    NOT NULL,
                status                   TEXT    NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined', 'requires_capture', 'capturing', 'canceling', 'canceled', 'expired')),
                idempotency_key          TEXT    NOT NULL,
                charge_id                TEXT    NULL,
                decline_code             TEXT    NULL,
                refunded                 INTEGER NOT NULL CHECK (refunded >= 0 AND refunded <= amount_captured),
                created_at               TEXT    NOT NULL,
                updated_at               TEXT    NOT NULL,
                fingerprint              TEXT    NULL,
                capture_method           TEXT    NOT NULL DEFAULT 'automatic' CHECK (capture_method IN ('automatic', 'manual')),
                amount_captured          INTEGER NOT NULL DEFAULT 0 CHECK (amount_captured BETWEEN 0 AND amount),
                authorization_expires_at TEXT    NULL,
                capture_amount           INTEGER NULL CHECK (capture_amount BETWEEN 1 AND amount),
                capture_key              TEXT    NULL,
                capture_fingerprint      TEXT    NULL,
                cancel_key               TEXT    NULL,
                cancel_fingerprint       TEXT    NULL,
                UNIQUE (tenant_id, idempotency_key),
                CHECK (status = 'succeeded' OR refunded = 0),
                CHECK ((status = 'succeeded') = (amount_captured > 0)),
                CHECK (capture_method = 'manual' OR (status IN ('pending', 'succeeded', 'declined') AND capture_key IS NULL AND cancel_key IS NULL)),
                CHECK (status NOT IN ('requires_capture', 'capturing', 'canceling', 'canceled', 'expired') OR authorization_expires_at IS NOT NULL),
                CHECK ((capture_key IS NULL) = (capture_amount IS NULL)),
                CHECK (status <> 'capturing' OR capture_key IS NOT NULL),
                CHECK (status NOT IN ('canceling', 'canceled') OR cancel_key IS NOT NULL),
                CHECK (capture_method = 'automatic' OR status <> 'succeeded' OR amount_captured = capture_amount)
            ) STRICT;
            INSERT INTO payments_v8 (id, tenant_id, account_id, amount, currency, source, status, idempotency_key, charge_id, decline_code, refunded, created_at, updated_at,
                                     fingerprint, amount_captured)
                SELECT id, tenant_id, account_id, amount, currency, source, status, idempotency_key, charge_id, decline_code, refunded, created_at, updated_at,
                       fingerprint, CASE status WHEN 'succeeded' THEN amount ELSE 0 END
                FROM payments;
            DROP TABLE payments;
            ALTER TABLE payments_v8 RENAME TO payments;
            CREATE INDEX IF NOT EXISTS ix_payments_pending ON payments (created_at) WHERE status = 'pending';
            CREATE INDEX IF NOT EXISTS ix_payments_in_flight ON payments (updated_at) WHERE status IN ('capturing', 'canceling');
            CREATE INDEX IF NOT EXISTS ix_payments_authorized ON payments (authorization_expires_at) WHERE status = 'requires_capture';
            """),
    ];
}
