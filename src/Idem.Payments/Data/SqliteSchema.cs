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
    ];
}
