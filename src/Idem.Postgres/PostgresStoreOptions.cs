using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Postgres;

/// <summary>Settings of the PostgreSQL store. Validated at start (and when a store is built from them directly).</summary>
public sealed class PostgresStoreOptions
{
    /// <summary>
    /// The schema the table lives in. Default <c>public</c>. Letters, digits and underscores only, not starting with a
    /// digit or with <c>pg_</c> (PostgreSQL keeps that prefix for itself). Created when missing if
    /// <see cref="CreateSchema"/> is on.
    /// </summary>
    [Required]
    [RegularExpression("^(?![Pp][Gg]_)[A-Za-z_][A-Za-z0-9_]{0,62}$")]
    public string Schema { get; set; } = "public";

    /// <summary>
    /// The table records are kept in. Default <c>idem_keys</c>. Letters, digits and underscores, at most 51 characters (its
    /// index is named after it and PostgreSQL names are at most 63), not starting with a digit.
    /// </summary>
    [Required]
    [RegularExpression("^[A-Za-z_][A-Za-z0-9_]{0,50}$")]
    public string TableName { get; set; } = "idem_keys";

    /// <summary>
    /// How long a claim waits for another transaction that holds the same key (a transactional request still running, or
    /// a concurrent claim) before it answers <see cref="Storage.ClaimOutcome.InProgress"/>. Default 10 seconds. Set as
    /// PostgreSQL's <c>lock_timeout</c> for the claim, and for the rest of a transactional request's transaction.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:10:00")]
    public TimeSpan LockTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Whether the store creates its schema, table and index (<c>IF NOT EXISTS</c>) when it is first used. Default true.
    /// Turn it off when the application's role may not run DDL and the table is created by a migration instead (for
    /// example an Entity Framework Core model that maps it: <c>modelBuilder.AddPostgresIdempotencyKeys()</c> in
    /// Idem.EntityFrameworkCore).
    /// </summary>
    public bool CreateSchema { get; set; } = true;
}

/// <summary>Checks the annotations of <see cref="PostgresStoreOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class PostgresStoreOptionsValidator : IValidateOptions<PostgresStoreOptions>;
