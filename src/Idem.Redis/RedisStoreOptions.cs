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

    /// <summary>
    /// When a claim, a completion or a renewal counts as done. Default <see cref="RedisDurability.Primary"/>: once the
    /// primary has run it (no extra round trip). <see cref="RedisDurability.Replicated"/>: once <see cref="MinReplicas"/>
    /// replicas have acknowledged it (<c>WAIT</c>), so a failover to one of them keeps it; a claim that is not
    /// confirmed within <see cref="ReplicationTimeout"/> fails (503), it is never reported as held.
    /// </summary>
    public RedisDurability Durability { get; set; } = RedisDurability.Primary;

    /// <summary>
    /// With <see cref="RedisDurability.Replicated"/>: how many replicas of the key's primary must acknowledge each write.
    /// Default 1. At start the store refuses to run when a primary has fewer replicas online.
    /// </summary>
    [Range(1, 16)]
    public int MinReplicas { get; set; } = 1;

    /// <summary>
    /// With <see cref="RedisDurability.Replicated"/>: how long a write waits for its replicas before it fails. Default
    /// 500 ms. Keep it below the connection's command timeout (1 s on the store's own connection), or the client gives
    /// up first (the write then fails all the same). While a primary is waiting, the next commands on its connection
    /// wait behind it.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.001", "00:01:00")]
    public TimeSpan ReplicationTimeout { get; set; } = TimeSpan.FromMilliseconds(500);
}

/// <summary>When the Redis store counts a write (claim, completion, renewal) as done.</summary>
public enum RedisDurability
{
    /// <summary>
    /// When the primary that owns the key has run it. Replication is asynchronous: a failover to a replica that had not
    /// received the write loses it, and the key can run again.
    /// </summary>
    Primary,

    /// <summary>
    /// When <see cref="RedisStoreOptions.MinReplicas"/> replicas have acknowledged it as well (Redis <c>WAIT</c> after the
    /// write, on the same connection). Not a consensus: see docs/redis.md for what it does and does not promise.
    /// </summary>
    Replicated,
}

/// <summary>Checks the annotations of <see cref="RedisStoreOptions"/> (source-generated, no reflection).</summary>
[OptionsValidator]
internal sealed partial class RedisStoreOptionsValidator : IValidateOptions<RedisStoreOptions>;
