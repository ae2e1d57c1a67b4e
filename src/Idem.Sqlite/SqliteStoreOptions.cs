using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Sqlite;

/// <summary>Settings of the SQLite store. Validated at start (and when a store is built from them directly).</summary>
public sealed class SqliteStoreOptions
{
    /// <summary>
    /// The Microsoft.Data.Sqlite connection string, for example <c>Data Source=idem.db</c>. It must name a database file
    /// that every connection shares: a private <c>:memory:</c> database lives and dies with one connection.
    /// </summary>
    [Required]
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// The table records are kept in. Default <c>idem_keys</c>. Letters, digits and underscores only, not starting with a
    /// digit or with <c>sqlite_</c> (SQLite keeps that prefix for itself).
    /// </summary>
    [Required]
    [RegularExpression("^(?![Ss][Qq][Ll][Ii][Tt][Ee]_)[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    public string TableName { get; set; } = "idem_keys";

    /// <summary>
    /// How long a call waits for another writer (another process, or a transactional request in this one) to release
    /// the database before it fails. Default 30 seconds.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:10:00")]
    public TimeSpan BusyTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Whether the store creates its table and index (<c>IF NOT EXISTS</c>) when it is first used, and adds the columns
    /// later versions added. Default true. Turn it off when something else owns the table: a migration, or an Entity
    /// Framework Core model that maps it (<c>modelBuilder.AddSqliteIdempotencyKeys()</c> in Idem.EntityFrameworkCore).
    /// The store still switches the file to WAL on first use.
    /// </summary>
    public bool CreateSchema { get; set; } = true;
}

/// <summary>Checks the annotations of <see cref="SqliteStoreOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class SqliteStoreOptionsValidator : IValidateOptions<SqliteStoreOptions>;
