using System.Globalization;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Idem.Redis;

/// <summary>
/// What Redis keeping its data takes: in the <see cref="RedisDurability.Replicated"/> mode, a write counts once a
/// replica has acknowledged it (<c>WAIT</c>); and at start, a look at each primary's settings (eviction, persistence,
/// replicas), which warns or refuses.
/// </summary>
internal sealed partial class RedisIdempotencyStore
{
    // A completion, renewal or recovery point that took effect counts only once replicated, in the durable mode. A release
    // is not waited for: if a failover loses it, the key stays held until its lease ends, which is safe.
    private async ValueTask<LeaseStatus> ReplicatedStatusAsync(RedisResult result, string step, string storeKey)
    {
        var status = Status(result);
        if (status == LeaseStatus.Ok && _replicated)
        {
            await ConfirmReplicatedAsync(step, storeKey).ConfigureAwait(false);
        }

        return status;
    }

    // The claim ran on the primary but is not known to be on its replicas: it must not be reported as held. Release it
    // (best effort, not waited for) so a retry need not wait for the lease to end, then fail.
    private async ValueTask ConfirmClaimReplicatedAsync(string storeKey, string owner)
    {
        try
        {
            await ConfirmReplicatedAsync("claim", storeKey).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseQuietlyAsync(storeKey, owner).ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// <c>WAIT</c> on the primary that owns the key, on the connection that carried the write (StackExchange.Redis keeps one
    /// interactive connection per server, and routes this by the key's slot as it routed the script). WAIT counts the
    /// replicas that acknowledged every write this connection made so far, ours included; fewer than asked fails.
    /// </summary>
    private async ValueTask ConfirmReplicatedAsync(string step, string storeKey)
    {
        var server = _connection!.GetServer(RecordKey(storeKey), flags: CommandFlags.DemandMaster);
        var acknowledged = (long)await server.ExecuteAsync("WAIT", _waitArguments, CommandFlags.DemandMaster).ConfigureAwait(false);
        if (acknowledged < _options.MinReplicas)
        {
            Log.NotReplicated(_logger, step, storeKey, _options.MinReplicas, acknowledged);
            throw new RedisException(string.Create(
                CultureInfo.InvariantCulture,
                $"The {step} was not acknowledged by {_options.MinReplicas} Redis replica(s) within {_options.ReplicationTimeout.TotalMilliseconds} ms ({acknowledged} did), so a failover could lose it. Retry with the same key."));
        }
    }

    /// <summary>
    /// Reads each primary's settings where the server lets it (<c>INFO</c>; <c>CONFIG GET</c> for the snapshot settings,
    /// which is often disabled on managed Redis):
    /// warns about an evicting <c>maxmemory-policy</c> and persistence turned off, and with
    /// <see cref="RedisDurability.Replicated"/> throws when a primary has fewer replicas online than
    /// <see cref="RedisStoreOptions.MinReplicas"/>. A Redis that cannot be reached is warned about, not refused: the store
    /// keeps reconnecting, and every write fails until replicas confirm it anyway.
    /// </summary>
    internal async Task CheckServersAsync()
    {
        // INFO and CONFIG are admin commands to StackExchange.Redis: read them on a short-lived connection of their own with
        // admin mode on, made from the same settings, so the store's connection stays as the application configured it.
        var settings = _configuration?.Clone() ?? ConfigurationOptions.Parse(_connection!.Configuration);
        settings.AllowAdmin = true;
        settings.AbortOnConnectFail = false;
        ConnectionMultiplexer admin;
        try
        {
            admin = await ConnectionMultiplexer.ConnectAsync(settings).ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            Log.CouldNotCheck(_logger, "(not connected)", ex.Message);
            return;
        }

        await using (admin.ConfigureAwait(false))
        {
            await CheckPrimariesAsync(admin).ConfigureAwait(false);
        }
    }

    private async Task CheckPrimariesAsync(ConnectionMultiplexer admin)
    {
        var checkedAny = false;
        foreach (var server in admin.GetServers())
        {
            var name = server.EndPoint.ToString() ?? "";
            if (!server.IsConnected)
            {
                Log.CouldNotCheck(_logger, name, "not connected");
                continue;
            }

            if (server.IsReplica)
            {
                continue;
            }

            checkedAny = true;
            await CheckConfigurationAsync(server, name).ConfigureAwait(false);
            if (_replicated)
            {
                var online = await ReplicasOnlineAsync(server).ConfigureAwait(false);
                if (online < _options.MinReplicas)
                {
                    throw new InvalidOperationException(string.Create(
                        CultureInfo.InvariantCulture,
                        $"The Redis store is configured with Durability = Replicated and MinReplicas = {_options.MinReplicas}, but the Redis primary {name} has {online} replica(s) online. Every write would fail. Add replicas, lower MinReplicas, or use Durability = Primary."));
                }
            }
        }

        if (!checkedAny)
        {
            Log.CouldNotCheck(_logger, "(no primary connected)", "no primary was reachable at start");
        }
    }

    // INFO is open on most managed Redis services; CONFIG GET (for the snapshot settings, which INFO does not show) is
    // often renamed or disabled there.
    private async Task CheckConfigurationAsync(IServer server, string name)
    {
        Dictionary<string, string> info;
        try
        {
            info = await InfoAsync(server, "memory", "persistence").ConfigureAwait(false);
        }
        catch (RedisException ex)
        {
            Log.CouldNotCheck(_logger, name, ex.Message);
            return;
        }

        if (info.TryGetValue("maxmemory_policy", out var policy) && policy != "noeviction")
        {
            Log.EvictingPolicy(_logger, name, policy);
        }

        if (!info.TryGetValue("aof_enabled", out var aof) || aof != "0")
        {
            return;
        }

        try
        {
            var reply = (RedisResult[]?)await server.ExecuteAsync("CONFIG", ["GET", "save"], CommandFlags.None).ConfigureAwait(false);
            var save = reply is { Length: 2 } ? (string?)reply[1] : null;
            if (string.IsNullOrWhiteSpace(save))
            {
                Log.PersistenceOff(_logger, name);
            }
            else
            {
                Log.SnapshotsOnly(_logger, name, save);
            }
        }
        catch (Exception ex) when (ex is RedisException or RedisCommandException)
        {
            Log.SnapshotsUnknown(_logger, name, ex.Message);
        }
    }

    private static async Task<Dictionary<string, string>> InfoAsync(IServer server, params string[] sections)
    {
        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var section in sections)
        {
            var text = await server.InfoRawAsync(section).ConfigureAwait(false) ?? "";
            foreach (var line in text.Split('\n', StringSplitOptions.TrimEntries))
            {
                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon > 0 && line[0] != '#')
                {
                    fields[line[..colon]] = line[(colon + 1)..];
                }
            }
        }

        return fields;
    }

    // INFO replication lists each replica as slaveN:ip=…,port=…,state=online,offset=…,lag=….
    private static async Task<int> ReplicasOnlineAsync(IServer server)
        => (await InfoAsync(server, "replication").ConfigureAwait(false))
            .Count(f => f.Key.StartsWith("slave", StringComparison.Ordinal) && f.Key[5..].All(char.IsAsciiDigit) && f.Value.Contains("state=online", StringComparison.Ordinal));
}
