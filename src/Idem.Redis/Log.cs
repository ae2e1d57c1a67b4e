using Microsoft.Extensions.Logging;

namespace Idem.Redis;

internal static partial class Log
{
    [LoggerMessage(EventId = 501, Level = LogLevel.Debug, Message = "Redis did not know the idempotency script {Script} (restarted, failed over or flushed); sent it in full.")]
    public static partial void ScriptReloaded(ILogger logger, string script);

    [LoggerMessage(EventId = 502, Level = LogLevel.Warning, Message = "Redis {Server} has maxmemory-policy {Policy}: under memory pressure it evicts keys, and an evicted idempotency record is lost (its key runs again). Set maxmemory-policy noeviction.")]
    public static partial void EvictingPolicy(ILogger logger, string server, string policy);

    [LoggerMessage(EventId = 503, Level = LogLevel.Warning, Message = "Redis {Server} has persistence off (appendonly no, no save points): a restart loses every idempotency record, and their keys run again.")]
    public static partial void PersistenceOff(ILogger logger, string server);

    [LoggerMessage(EventId = 506, Level = LogLevel.Warning, Message = "Redis {Server} has appendonly off and snapshots only (save {Save}): a crash or kill loses the idempotency records written since the last snapshot, and their keys run again.")]
    public static partial void SnapshotsOnly(ILogger logger, string server, string save);

    [LoggerMessage(EventId = 507, Level = LogLevel.Warning, Message = "Redis {Server} has appendonly off, and its snapshot settings could not be read (CONFIG GET: {Reason}): a crash or restart loses the idempotency records written since the last snapshot, or all of them without snapshots.")]
    public static partial void SnapshotsUnknown(ILogger logger, string server, string reason);

    [LoggerMessage(EventId = 504, Level = LogLevel.Warning, Message = "Could not check the settings of Redis {Server} (eviction policy, persistence, replicas): {Reason}")]
    public static partial void CouldNotCheck(ILogger logger, string server, string reason);

    [LoggerMessage(EventId = 505, Level = LogLevel.Warning, Message = "The {Step} of {StoreKey} was not acknowledged by {Required} replica(s) within the replication timeout ({Acknowledged} did); it fails.")]
    public static partial void NotReplicated(ILogger logger, string step, string storeKey, int required, long acknowledged);
}
