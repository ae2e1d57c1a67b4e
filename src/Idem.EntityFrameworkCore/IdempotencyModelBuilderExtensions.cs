using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore.Metadata.Builders;

namespace Microsoft.EntityFrameworkCore;

/// <summary>
/// Maps the table Idem's SQL stores keep their records in into an Entity Framework Core model, so the application's
/// migrations (or <c>EnsureCreated</c>) create it beside its own tables. The mapping is the store's own table, column for
/// column: the same names, types, nullability, defaults, collation, primary key and index, so the store runs on it
/// unchanged. Turn the store's own table creation off (<c>CreateSchema = false</c> in <c>AddSqliteStore</c> or
/// <c>AddPostgresStore</c>) so that the model alone owns it.
/// </summary>
/// <remarks>
/// The table is a shared-type entity (a property bag, no CLR type of its own): the application never writes it; only the
/// store does. Reading it is possible through <c>Set&lt;Dictionary&lt;string, object&gt;&gt;(name)</c> with the name
/// <see cref="IdempotencyKeysEntityName"/> returns.
/// </remarks>
public static partial class IdempotencyModelBuilderExtensions
{
    private const string DefaultTable = "idem_keys";

    /// <summary>
    /// Maps the SQLite store's table (Idem.Sqlite's <c>idem_keys</c> by default). Call it in <c>OnModelCreating</c> of a
    /// context on the same database file as the store.
    /// </summary>
    /// <param name="modelBuilder">The model being built.</param>
    /// <param name="tableName">The store's table: its <c>SqliteStoreOptions.TableName</c>.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentException">The table name is not one the store accepts.</exception>
    public static ModelBuilder AddSqliteIdempotencyKeys(this ModelBuilder modelBuilder, string tableName = DefaultTable)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ThrowIfInvalid(tableName, SqliteTableName(), nameof(tableName));
        return modelBuilder.SharedTypeEntity<Dictionary<string, object>>(IdempotencyKeysEntityName(null, tableName), keys =>
        {
            // The order, the types (as SQLite keeps them: the declared type's text) and the defaults of SqliteSql.CreateSchema.
            keys.ToTable(tableName);
            var order = 0;
            Column<string>(keys, "key", "TEXT", required: true, ref order);
            Column<string>(keys, "fingerprint", "TEXT", required: true, ref order);
            Column<long>(keys, "state", "INTEGER", required: true, ref order);
            Column<string>(keys, "owner", "TEXT", required: false, ref order);
            Column<long>(keys, "created_at", "INTEGER", required: true, ref order);
            Column<long>(keys, "lease_expires_at", "INTEGER", required: true, ref order);
            Column<long>(keys, "expires_at", "INTEGER", required: true, ref order);
            Column<long?>(keys, "status", "INTEGER", required: false, ref order);
            Column<byte[]>(keys, "headers", "BLOB", required: false, ref order);
            Column<byte[]>(keys, "body", "BLOB", required: false, ref order);
            Column<long>(keys, "body_truncated", "INTEGER", required: true, ref order).HasDefaultValue(0L);
            Column<string>(keys, "recovery_point", "TEXT", required: false, ref order);
            Column<byte[]>(keys, "member_digest", "BLOB", required: false, ref order);
            keys.HasKey("key").HasName(tableName + "_pkey");
            keys.HasIndex("expires_at").HasDatabaseName(tableName + "_expires_at");
        });
    }

    /// <summary>
    /// Maps the PostgreSQL store's table (Idem.Postgres's <c>public.idem_keys</c> by default). Call it in
    /// <c>OnModelCreating</c> of a context on the same database as the store.
    /// </summary>
    /// <param name="modelBuilder">The model being built.</param>
    /// <param name="schema">The store's schema: its <c>PostgresStoreOptions.Schema</c>.</param>
    /// <param name="tableName">The store's table: its <c>PostgresStoreOptions.TableName</c>.</param>
    /// <returns>The same builder.</returns>
    /// <exception cref="ArgumentException">The schema or table name is not one the store accepts.</exception>
    public static ModelBuilder AddPostgresIdempotencyKeys(this ModelBuilder modelBuilder, string schema = "public", string tableName = DefaultTable)
    {
        ArgumentNullException.ThrowIfNull(modelBuilder);
        ThrowIfInvalid(schema, PostgresSchemaName(), nameof(schema));
        ThrowIfInvalid(tableName, PostgresTableName(), nameof(tableName));
        return modelBuilder.SharedTypeEntity<Dictionary<string, object>>(IdempotencyKeysEntityName(schema, tableName), keys =>
        {
            // The order, types, collation and defaults of PostgresSql.CreateTable; the key's constraint and the index carry
            // the names PostgreSQL and the store give them.
            keys.ToTable(tableName, schema);
            var order = 0;
            Column<string>(keys, "key", "text", required: true, ref order).UseCollation("C");
            Column<string>(keys, "fingerprint", "text", required: true, ref order);
            Column<short>(keys, "state", "smallint", required: true, ref order);
            Column<Guid?>(keys, "owner_token", "uuid", required: false, ref order);
            Column<DateTimeOffset>(keys, "created_at", "timestamp with time zone", required: true, ref order);
            Column<DateTimeOffset>(keys, "lease_expires_at", "timestamp with time zone", required: true, ref order);
            Column<DateTimeOffset>(keys, "expires_at", "timestamp with time zone", required: true, ref order);
            Column<int?>(keys, "status", "integer", required: false, ref order);
            Column<byte[]>(keys, "headers", "bytea", required: false, ref order);
            Column<byte[]>(keys, "body", "bytea", required: false, ref order);
            // bool? mapped NOT NULL: a non-nullable bool with a database default makes EF warn that false could never be
            // inserted, which does not apply to a table only the store writes.
            Column<bool?>(keys, "body_truncated", "boolean", required: true, ref order).HasDefaultValue(false);
            Column<string>(keys, "recovery_point", "text", required: false, ref order);
            Column<byte[]>(keys, "member_digest", "bytea", required: false, ref order);
            keys.HasKey("key").HasName(tableName + "_pkey");
            keys.HasIndex("expires_at").HasDatabaseName(tableName + "_expires_at");
        });
    }

    /// <summary>The name of the shared-type entity that maps the keys table <paramref name="tableName"/>.</summary>
    /// <param name="schema">The PostgreSQL schema, or null for SQLite.</param>
    /// <param name="tableName">The table.</param>
    public static string IdempotencyKeysEntityName(string? schema, string tableName)
        => schema is null ? "Idem.Keys." + tableName : "Idem.Keys." + schema + "." + tableName;

    private static PropertyBuilder<T> Column<T>(EntityTypeBuilder<Dictionary<string, object>> keys, string name, string type, bool required, ref int order)
        => keys.IndexerProperty<T>(name).HasColumnName(name).HasColumnType(type).IsRequired(required).HasColumnOrder(order++);

    private static void ThrowIfInvalid(string name, Regex pattern, string parameter)
    {
        ArgumentNullException.ThrowIfNull(name, parameter);
        if (!pattern.IsMatch(name))
        {
            throw new ArgumentException($"'{name}' is not a name the Idem store accepts (letters, digits and underscores, as its options say).", parameter);
        }
    }

    // The patterns of SqliteStoreOptions.TableName, PostgresStoreOptions.Schema and PostgresStoreOptions.TableName.
    [GeneratedRegex("^(?![Ss][Qq][Ll][Ii][Tt][Ee]_)[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex SqliteTableName();

    [GeneratedRegex("^(?![Pp][Gg]_)[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    private static partial Regex PostgresSchemaName();

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]{0,50}$")]
    private static partial Regex PostgresTableName();
}
