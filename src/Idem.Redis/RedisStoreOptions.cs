using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace Idem.Redis;

/// <summary>Settings of the Redis store. Validated at start (and when a store is built from them directly).</summary>
public sealed class RedisStoreOptions
{
    /// <summary>
    /// What every record's key starts with. Default <c>idem:</c>. Up to 64 letters, digits and <c>: _ - . /</c>; no
    /// braces (the rest of the key is a hash tag) and no glob characters (purging scans for the prefix). Give each
    /// application that shares a Redis its own prefix.
    /// </summary>
    [Required(AllowEmptyStrings = true)]
    [RegularExpression("^[A-Za-z0-9:_.\\-/]{0,64}$")]
    public string KeyPrefix { get; set; } = "idem:";

    /// <summary>
    /// How long Redis keeps a record after it has expired before deleting it by itself. Default 1 minute. The scripts
    /// treat a record as gone from the moment it expires, so this changes no outcome; it is the window in which
    /// <c>PurgeAsync</c> finds expired records to delete early, and it costs that much extra memory per record.
    /// Zero makes Redis delete each record exactly at its expiry, and purging then finds nothing.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "1.00:00:00")]
    public TimeSpan ExpiryGrace { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>Checks the annotations of <see cref="RedisStoreOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class RedisStoreOptionsValidator : IValidateOptions<RedisStoreOptions>;
