namespace Idem.Payments.Data;

/// <summary>
/// The ledger's schema on PostgreSQL, as an append-only list of migrations: never edit or reorder one that has shipped,
/// append a new one (and its twin in <see cref="SqliteSchema"/>). Same tables, columns and rules as on SQLite; money is
/// BIGINT minor units, times are timestamptz.
/// </summary>
internal static class PostgresSchema
{
    public const string CreateMigrationsTable = """
        CREATE TABLE IF NOT EXISTS schema_migrations (
            version    integer     NOT NULL PRIMARY KEY,
            name       text        NOT NULL,
            applied_at timestamptz NOT NULL
        );
        """;

    // The CHECKs restate the ledger's rules so that a bug fails loudly (and rolls back) instead of corrupting money.
    public static readonly IReadOnlyList<Migration> Migrations =
    [
        new(1, "ledger", """
            CREATE TABLE IF NOT EXISTS accounts (
                id         text        NOT NULL PRIMARY KEY,
                tenant_id  text        NOT NULL,
                kind       text        NOT NULL CHECK (kind IN ('customer', 'funding')),
                currency   text        NOT NULL CHECK (length(currency) = 3),
                balance    bigint      NOT NULL,
                version    bigint      NOT NULL CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                CHECK (kind <> 'customer' OR balance BETWEEN 0 AND 1000000000000000000),
                CHECK (kind <> 'funding' OR balance BETWEEN -1000000000000000000 AND 0)
            );
            CREATE INDEX IF NOT EXISTS ix_accounts_tenant ON accounts (tenant_id, created_at);
            CREATE UNIQUE INDEX IF NOT EXISTS ux_accounts_funding ON accounts (tenant_id, currency) WHERE kind = 'funding';

            CREATE TABLE IF NOT EXISTS deposits (
                id            text        NOT NULL PRIMARY KEY,
                tenant_id     text        NOT NULL,
                account_id    text        NOT NULL REFERENCES accounts (id),
                amount        bigint      NOT NULL CHECK (amount > 0),
                currency      text        NOT NULL,
                balance_after bigint      NOT NULL,
                created_at    timestamptz NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_deposits_account ON deposits (account_id);

            CREATE TABLE IF NOT EXISTS transfers (
                id              text        NOT NULL PRIMARY KEY,
                tenant_id       text        NOT NULL,
                from_account_id text        NOT NULL REFERENCES accounts (id),
                to_account_id   text        NOT NULL REFERENCES accounts (id),
                amount          bigint      NOT NULL CHECK (amount > 0),
                currency        text        NOT NULL,
                status          text        NOT NULL,
                created_at      timestamptz NOT NULL,
                CHECK (from_account_id <> to_account_id)
            );

            CREATE TABLE IF NOT EXISTS ledger_entries (
                seq           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id            text        NOT NULL UNIQUE,
                tenant_id     text        NOT NULL,
                account_id    text        NOT NULL REFERENCES accounts (id),
                amount        bigint      NOT NULL CHECK (amount <> 0),
                currency      text        NOT NULL,
                balance_after bigint      NOT NULL,
                movement_type text        NOT NULL CHECK (movement_type IN ('deposit', 'transfer')),
                movement_id   text        NOT NULL,
                created_at    timestamptz NOT NULL
            );
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_account ON ledger_entries (account_id, seq);
            CREATE INDEX IF NOT EXISTS ix_ledger_entries_movement ON ledger_entries (movement_id);
            """),

        // A tenant names its customers: the id is the client's, unique per tenant. metadata is a JSON object of strings.
        new(2, "customers", """
            CREATE TABLE IF NOT EXISTS customers (
                tenant_id  text        NOT NULL,
                id         text        NOT NULL,
                name       text        NOT NULL,
                email      text        NULL,
                metadata   text        NOT NULL,
                version    bigint      NOT NULL CHECK (version >= 1),
                created_at timestamptz NOT NULL,
                updated_at timestamptz NOT NULL,
                PRIMARY KEY (tenant_id, id)
            );
            """),

        new(3, "account details", """
            ALTER TABLE accounts
                ADD COLUMN IF NOT EXISTS nickname text NULL,
                ADD COLUMN IF NOT EXISTS metadata text NOT NULL DEFAULT '{}';
            """),

        // Card payments and refunds (see the SQLite list); the movement types are widened in place.
        new(4, "payments and refunds", """
            CREATE TABLE IF NOT EXISTS payments (
                id              text        NOT NULL PRIMARY KEY,
                tenant_id       text        NOT NULL,
                account_id      text        NOT NULL REFERENCES accounts (id),
                amount          bigint      NOT NULL CHECK (amount > 0),
                currency        text        NOT NULL,
                source          text        NOT NULL,
                status          text        NOT NULL CHECK (status IN ('pending', 'succeeded', 'declined')),
                idempotency_key text        NOT NULL,
                charge_id       text        NULL,
                decline_code    text        NULL,
                refunded        bigint      NOT NULL CHECK (refunded >= 0 AND refunded <= amount),
                created_at      timestamptz NOT NULL,
                updated_at      timestamptz NOT NULL,
                UNIQUE (tenant_id, idempotency_key),
                CHECK (status = 'succeeded' OR refunded = 0)
            );
            CREATE INDEX IF NOT EXISTS ix_payments_pending ON payments (created_at) WHERE status = 'pending';

            CREATE TABLE IF NOT EXISTS refunds (
                id                  text        NOT NULL PRIMARY KEY,
                tenant_id           text        NOT NULL,
                payment_id          text        NOT NULL REFERENCES payments (id),
                amount              bigint      NOT NULL CHECK (amount > 0),
                currency            text        NOT NULL,
                status              text        NOT NULL CHECK (status IN ('pending', 'succeeded')),
                idempotency_key     text        NOT NULL,
                processor_refund_id text        NULL,
                created_at          timestamptz NOT NULL,
                updated_at          timestamptz NOT NULL,
                UNIQUE (tenant_id, idempotency_key)
            );
            CREATE INDEX IF NOT EXISTS ix_refunds_payment ON refunds (payment_id);
            CREATE INDEX IF NOT EXISTS ix_refunds_pending ON refunds (created_at) WHERE status = 'pending';

            ALTER TABLE ledger_entries DROP CONSTRAINT IF EXISTS ledger_entries_movement_type_check;
            ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_movement_type_check
                CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund'));
            """),

        // Owned by the statements consumer (Statements/StatementsHandler); see SqliteSchema.
        new(5, "statement lines", """
            CREATE TABLE IF NOT EXISTS statement_lines (
                tenant_id   text        NOT NULL,
                account_id  text        NOT NULL,
                month       text        NOT NULL CHECK (length(month) = 7),
                event_id    text        NOT NULL,
                type        text        NOT NULL,
                amount      bigint      NOT NULL CHECK (amount <> 0),
                currency    text        NOT NULL,
                occurred_at timestamptz NOT NULL,
                PRIMARY KEY (account_id, event_id)
            );
            CREATE INDEX IF NOT EXISTS ix_statement_lines_month ON statement_lines (tenant_id, account_id, month, occurred_at);
            """),

        // Failed refunds and their reversal entries (see SqliteSchema); the CHECKs are widened in place.
        new(6, "failed refunds", """
            ALTER TABLE refunds DROP CONSTRAINT IF EXISTS refunds_status_check;
            ALTER TABLE refunds ADD CONSTRAINT refunds_status_check CHECK (status IN ('pending', 'succeeded', 'failed'));
            ALTER TABLE ledger_entries DROP CONSTRAINT IF EXISTS ledger_entries_movement_type_check;
            ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_movement_type_check
                CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund', 'refund_reversal'));
            """),
        // The ledger's primitives (see SqliteSchema): limits and held amounts on accounts, the hash chain and the request
        // behind each entry, holds, batches, the fingerprint of each payment and refund. The CHECKs change in place.
        new(7, "ledger primitives", """
            DO $$
            DECLARE c text;
            BEGIN
                FOR c IN SELECT conname FROM pg_constraint
                         WHERE conrelid = 'accounts'::regclass AND contype = 'c' AND pg_get_constraintdef(oid) LIKE '%balance%'
                LOOP
                    EXECUTE format('ALTER TABLE accounts DROP CONSTRAINT %I', c);
                END LOOP;
            END $$;
            ALTER TABLE accounts
                ADD COLUMN overdraft_limit bigint NOT NULL DEFAULT 0 CHECK (overdraft_limit BETWEEN 0 AND 1000000000000000000),
                ADD COLUMN max_balance     bigint NOT NULL DEFAULT 1000000000000000000 CHECK (max_balance BETWEEN 0 AND 1000000000000000000),
                ADD COLUMN pending_debits  bigint NOT NULL DEFAULT 0 CHECK (pending_debits >= 0),
                ADD COLUMN pending_credits bigint NOT NULL DEFAULT 0 CHECK (pending_credits >= 0),
                ADD COLUMN head_hash       text   NULL;
            UPDATE accounts SET overdraft_limit = 1000000000000000000, max_balance = 0 WHERE kind = 'funding';
            ALTER TABLE accounts
                ADD CONSTRAINT accounts_within_overdraft CHECK (balance - pending_debits >= -overdraft_limit),
                ADD CONSTRAINT accounts_within_cap CHECK (balance + pending_credits <= max_balance),
                ADD CONSTRAINT accounts_funding_limits CHECK (kind <> 'funding' OR (overdraft_limit = 1000000000000000000 AND max_balance = 0));

            ALTER TABLE ledger_entries DROP CONSTRAINT IF EXISTS ledger_entries_movement_type_check;
            ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_movement_type_check
                CHECK (movement_type IN ('deposit', 'transfer', 'payment', 'refund', 'refund_reversal', 'hold_capture'));
            ALTER TABLE ledger_entries
                ADD COLUMN idempotency_key text NULL,
                ADD COLUMN fingerprint     text NULL,
                ADD COLUMN prev_hash       text NULL,
                ADD COLUMN hash            text NULL;

            ALTER TABLE payments ADD COLUMN fingerprint text NULL;
            ALTER TABLE refunds ADD COLUMN fingerprint text NULL;

            CREATE TABLE IF NOT EXISTS holds (
                id              text        NOT NULL PRIMARY KEY,
                tenant_id       text        NOT NULL,
                from_account_id text        NOT NULL REFERENCES accounts (id),
                to_account_id   text        NOT NULL REFERENCES accounts (id),
                amount          bigint      NOT NULL CHECK (amount > 0),
                currency        text        NOT NULL,
                status          text        NOT NULL CHECK (status IN ('pending', 'captured', 'voided', 'expired')),
                captured_amount bigint      NOT NULL DEFAULT 0 CHECK (captured_amount BETWEEN 0 AND amount),
                expires_at      bigint      NOT NULL,
                created_at      timestamptz NOT NULL,
                updated_at      timestamptz NOT NULL,
                CHECK (from_account_id <> to_account_id),
                CHECK (status = 'captured' OR captured_amount = 0)
            );
            CREATE INDEX IF NOT EXISTS ix_holds_expiry ON holds (expires_at) WHERE status = 'pending';
            CREATE INDEX IF NOT EXISTS ix_holds_from ON holds (from_account_id) WHERE status = 'pending';
            CREATE INDEX IF NOT EXISTS ix_holds_to ON holds (to_account_id) WHERE status = 'pending';

            CREATE TABLE IF NOT EXISTS batches (
                id         text        NOT NULL PRIMARY KEY,
                tenant_id  text        NOT NULL,
                item_count integer     NOT NULL CHECK (item_count BETWEEN 1 AND 1000),
                created_at timestamptz NOT NULL
            );
            ALTER TABLE transfers ADD COLUMN batch_id text NULL REFERENCES batches (id), ADD COLUMN batch_index integer NULL;
            CREATE UNIQUE INDEX IF NOT EXISTS ux_transfers_batch ON transfers (batch_id, batch_index) WHERE batch_id IS NOT NULL;
            """),

        // Manual capture (see SqliteSchema). The CHECKs on status and refunded change in place; PostgreSQL named them
        // after their columns in creation order, so they are found by what they say and given names of their own.
        new(8, "manual capture", """
            DO $$
            DECLARE c text;
            BEGIN
                FOR c IN SELECT conname FROM pg_constraint
                         WHERE conrelid = 'payments'::regclass AND contype = 'c'
                           AND (pg_get_constraintdef(oid) LIKE '%status%' OR pg_get_constraintdef(oid) LIKE '%refunded%')
                LOOP
                    EXECUTE format('ALTER TABLE payments DROP CONSTRAINT %I', c);
                END LOOP;
            END $$;
            ALTER TABLE payments
                ADD COLUMN capture_method           text        NOT NULL DEFAULT 'automatic',
                ADD COLUMN amount_captured          bigint      NOT NULL DEFAULT 0,
                ADD COLUMN authorization_expires_at timestamptz NULL,
                ADD COLUMN capture_amount           bigint      NULL,
                ADD COLUMN capture_key              text        NULL,
                ADD COLUMN capture_fingerprint      text        NULL,
                ADD COLUMN cancel_key               text        NULL,
                ADD COLUMN cancel_fingerprint       text        NULL;
            UPDATE payments SET amount_captured = amount WHERE status = 'succeeded';
            ALTER TABLE payments
                ADD CONSTRAINT payments_status_check
                    CHECK (status IN ('pending', 'succeeded', 'declined', 'requires_capture', 'capturing', 'canceling', 'canceled', 'expired')),
                ADD CONSTRAINT payments_refunded_check CHECK (refunded >= 0 AND refunded <= amount_captured),
                ADD CONSTRAINT payments_refunded_when_succeeded CHECK (status = 'succeeded' OR refunded = 0),
                ADD CONSTRAINT payments_capture_method_check CHECK (capture_method IN ('automatic', 'manual')),
                ADD CONSTRAINT payments_amount_captured_check CHECK (amount_captured BETWEEN 0 AND amount),
                ADD CONSTRAINT payments_capture_amount_check CHECK (capture_amount BETWEEN 1 AND amount),
                ADD CONSTRAINT payments_captured_when_succeeded CHECK ((status = 'succeeded') = (amount_captured > 0)),
                ADD CONSTRAINT payments_automatic_statuses
                    CHECK (capture_method = 'manual' OR (status IN ('pending', 'succeeded', 'declined') AND capture_key IS NULL AND cancel_key IS NULL)),
                ADD CONSTRAINT payments_authorization_expiry
                    CHECK (status NOT IN ('requires_capture', 'capturing', 'canceling', 'canceled', 'expired') OR authorization_expires_at IS NOT NULL),
                ADD CONSTRAINT payments_capture_request CHECK ((capture_key IS NULL) = (capture_amount IS NULL)),
                ADD CONSTRAINT payments_capturing_has_key CHECK (status <> 'capturing' OR capture_key IS NOT NULL),
                ADD CONSTRAINT payments_canceling_has_key CHECK (status NOT IN ('canceling', 'canceled') OR cancel_key IS NOT NULL),
                ADD CONSTRAINT payments_captured_as_requested CHECK (capture_method = 'automatic' OR status <> 'succeeded' OR amount_captured = capture_amount);
            CREATE INDEX IF NOT EXISTS ix_payments_in_flight ON payments (updated_at) WHERE status IN ('capturing', 'canceling');
            CREATE INDEX IF NOT EXISTS ix_payments_authorized ON payments (authorization_expires_at) WHERE status = 'requires_capture';
            """),
    ];
}
