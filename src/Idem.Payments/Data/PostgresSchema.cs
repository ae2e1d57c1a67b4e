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
    ];
}
