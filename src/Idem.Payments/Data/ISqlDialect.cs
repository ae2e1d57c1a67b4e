namespace Idem.Payments.Data;

/// <summary>
/// The few places where the ledger's SQL differs between databases. Everything else is portable SQL
/// (<c>RETURNING</c>, <c>ON CONFLICT</c>, named parameters) and lives once, in the repository of the feature that runs it.
/// </summary>
internal interface ISqlDialect
{
    /// <summary>
    /// Appended to a <c>SELECT</c> that must hold the rows it reads until the transaction ends: <c>FOR UPDATE</c> on
    /// PostgreSQL.
    /// </summary>
    string LockRowsSuffix { get; }

    /// <summary>
    /// An SQL expression for the database's clock in Unix milliseconds: what decides when a hold expires, the same on
    /// every node whatever its own clock says.
    /// </summary>
    string NowMillis { get; }

    /// <summary>
    /// Appended to a <c>SELECT … LIMIT</c> that claims one row of a queue several nodes work through: <c>FOR UPDATE SKIP
    /// LOCKED</c> on PostgreSQL, so two nodes never wait on the same row.
    /// </summary>
    string ClaimRowSuffix { get; }

    /// <summary>
    /// Appended to a text column in <c>ORDER BY</c> to sort it by its bytes, as <see cref="string.CompareOrdinal(string, string)"/>
    /// does, whatever the database's collation: rows locked in that order are locked in the order the ledger's code
    /// takes them one by one.
    /// </summary>
    string OrdinalCollation { get; }
}

/// <summary>
/// SQLite has no row locks: a write transaction (<c>BEGIN IMMEDIATE</c>, as Idem's transactional store opens it) holds
/// the database's single write lock from its first statement, so every row it reads is already its own.
/// </summary>
internal sealed class SqliteDialect : ISqlDialect
{
    public static readonly SqliteDialect Instance = new();

    public string LockRowsSuffix => "";

    // julianday counts days since noon, 24 November 4714 BC; 2440587.5 of them had passed at the Unix epoch.
    public string NowMillis => "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)";

    public string ClaimRowSuffix => "";

    // BINARY, SQLite's default collation, already compares bytes.
    public string OrdinalCollation => "";
}

/// <summary>
/// PostgreSQL locks the rows a decision reads (<c>SELECT … FOR UPDATE</c>) until the request's transaction ends, so two
/// movements on one account take turns; the ledger takes them in a fixed order so they never wait in a cycle.
/// </summary>
internal sealed class PostgresDialect : ISqlDialect
{
    public static readonly PostgresDialect Instance = new();

    public string LockRowsSuffix => " FOR UPDATE";

    // clock_timestamp(), not now(): the moment of the statement, not of the transaction's start.
    public string NowMillis => "CAST(extract(epoch FROM clock_timestamp()) * 1000 AS bigint)";

    public string ClaimRowSuffix => " FOR UPDATE SKIP LOCKED";

    // A database created with a linguistic collation (en_US.UTF-8) sorts 'acct_a' before 'acct_B'; ordinal order is the reverse.
    public string OrdinalCollation => " COLLATE \"C\"";
}
