using System.Security.Cryptography;
using System.Text;

namespace Idem.Redis;

/// <summary>
/// The Lua scripts the store runs, one per step. Each touches exactly one key (KEYS[1], the record), so it runs on the
/// one node that owns the key's slot, atomically: no other command runs on that Redis while a script does.
/// </summary>
/// <remarks>
/// <para>
/// A record is one string value in the layout <see cref="RedisRecord"/> reads (all integers little-endian):
/// <c>version:u8 state:u8 created_ms:i64 lease_expires_ms:i64 expires_ms:i64 fingerprint_len:u8 fingerprint
/// owner_len:u8 owner response</c>, where state is 0 in progress or 1 completed, the owner is empty once completed, and
/// the response (<see cref="Storage.IdempotencyResponseCodec"/>, itself versioned) is present only once completed.
/// A script that meets a version it does not know fails rather than guess.
/// </para>
/// <para>
/// Times are milliseconds on the Redis server's clock (<c>TIME</c>), never the caller's. Redis 6.2 and later replicate
/// a script by its effects, so the SET with an absolute <c>PXAT</c> it writes reaches replicas and the AOF as is.
/// A record lives in Redis until its expiry plus the grace (<c>PXAT</c>), and every script checks the expiry itself,
/// so the grace never changes an outcome.
/// </para>
/// </remarks>
internal static class RedisScripts
{
    // Shared by every script: the server clock in ms, and the record parser. A record is past its retention when its
    // expiry has passed and it is completed or its lease has run out too (a record never expires under a running lease).
    private const string Prelude = """
        local function clock()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function parse(v)
          if string.byte(v, 1) ~= 1 then
            return redis.error_reply('IDEM unknown record format ' .. tostring(string.byte(v, 1)))
          end
          return struct.unpack('<BBi8i8i8Bc0Bc0', v)
        end
        local function gone(state, lease, expires, now)
          return expires <= now and (state == 1 or lease <= now)
        end

        """;

    /// <summary>
    /// ARGV: fingerprint, owner token, lease ms, retention ms, grace ms. Returns <c>{3}</c> claimed (with the given
    /// owner), <c>{2, ms}</c> in progress for ms more, <c>{1, record}</c> completed, <c>{0}</c> another fingerprint.
    /// A completed record comes back whole in the same reply, so a replay is one round trip.
    /// </summary>
    public static readonly RedisScript Claim = new("claim", Prelude + """
        local now = clock()
        local created = now
        local v = redis.call('GET', KEYS[1])
        if v then
          local version, state, c, lease, expires, fingerprint = parse(v)
          if type(version) == 'table' then return version end
          if not gone(state, lease, expires, now) then
            if fingerprint ~= ARGV[1] then return {0} end
            if state == 1 then return {1, v} end
            if lease > now then return {2, lease - now} end
            -- The holder's lease ran out (it crashed or stalled): take the key over, keeping when it was first claimed.
            created = c
          end
        end
        local lease = tonumber(ARGV[3])
        local expires = now + math.max(lease, tonumber(ARGV[4]))
        redis.call('SET', KEYS[1],
          struct.pack('<BBi8i8i8Bc0Bc0', 1, 0, created, now + lease, expires, #ARGV[1], ARGV[1], #ARGV[2], ARGV[2]),
          'PXAT', expires + tonumber(ARGV[5]))
        return {3}
        """);

    /// <summary>
    /// ARGV: owner token, retention ms, grace ms, encoded response. Returns 1 when stored, 0 when the owner no longer
    /// holds the key. An owner past its lease that nobody took over may still complete: nobody else ran.
    /// </summary>
    public static readonly RedisScript Complete = new("complete", Prelude + """
        local v = redis.call('GET', KEYS[1])
        if not v then return 0 end
        local version, state, created, lease, expires, fingerprint, owner = parse(v)
        if type(version) == 'table' then return version end
        if state ~= 0 or owner ~= ARGV[1] then return 0 end
        local now = clock()
        local expires = now + tonumber(ARGV[2])
        redis.call('SET', KEYS[1],
          struct.pack('<BBi8i8i8Bc0B', 1, 1, created, 0, expires, #fingerprint, fingerprint, 0) .. ARGV[4],
          'PXAT', expires + tonumber(ARGV[3]))
        return 1
        """);

    /// <summary>ARGV: owner token. Deletes the in-progress record; 1 when deleted, 0 when the owner no longer holds it.</summary>
    public static readonly RedisScript Release = new("release", Prelude + """
        local v = redis.call('GET', KEYS[1])
        if not v then return 0 end
        local version, state, created, lease, expires, fingerprint, owner = parse(v)
        if type(version) == 'table' then return version end
        if state ~= 0 or owner ~= ARGV[1] then return 0 end
        redis.call('DEL', KEYS[1])
        return 1
        """);

    /// <summary>
    /// ARGV: owner token, lease ms, grace ms. Moves the lease to now + lease, and the expiry with it when it would
    /// otherwise come first; 1 when renewed, 0 when the owner no longer holds the key.
    /// </summary>
    public static readonly RedisScript Renew = new("renew", Prelude + """
        local v = redis.call('GET', KEYS[1])
        if not v then return 0 end
        local version, state, created, lease, expires, fingerprint, owner = parse(v)
        if type(version) == 'table' then return version end
        if state ~= 0 or owner ~= ARGV[1] then return 0 end
        local now = clock()
        local lease = now + tonumber(ARGV[2])
        expires = math.max(expires, lease)
        redis.call('SET', KEYS[1],
          struct.pack('<BBi8i8i8Bc0Bc0', 1, 0, created, lease, expires, #fingerprint, fingerprint, #owner, owner),
          'PXAT', expires + tonumber(ARGV[3]))
        return 1
        """);

    /// <summary>No ARGV. Returns the record, or nil when there is none or it is past its retention. Writes nothing.</summary>
    public static readonly RedisScript Get = new("get", Prelude + """
        local v = redis.call('GET', KEYS[1])
        if not v then return false end
        local version, state, created, lease, expires = parse(v)
        if type(version) == 'table' then return version end
        if gone(state, lease, expires, clock()) then return false end
        return v
        """);

    /// <summary>
    /// ARGV: expired-before ms. Deletes the record when it expired before that time and before the server's now (a
    /// caller whose clock runs ahead can never purge a live record); 1 when deleted. Reads only the fixed header.
    /// </summary>
    public static readonly RedisScript Purge = new("purge", """
        local h = redis.call('GETRANGE', KEYS[1], 0, 25)
        if #h < 26 or string.byte(h, 1) ~= 1 then return 0 end
        local version, state, created, lease, expires = struct.unpack('<BBi8i8i8', h)
        local t = redis.call('TIME')
        local cutoff = math.min(tonumber(ARGV[1]), tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
        if expires < cutoff and (state == 1 or lease < cutoff) then
          redis.call('DEL', KEYS[1])
          return 1
        end
        return 0
        """);

    /// <summary>Every script, for tests and for loading them ahead of use.</summary>
    public static IReadOnlyList<RedisScript> All { get; } = [Claim, Complete, Release, Renew, Get, Purge];
}

/// <summary>A script's source and the SHA-1 Redis names it by (what <c>EVALSHA</c> sends instead of the source).</summary>
internal sealed class RedisScript
{
    public RedisScript(string name, string source)
    {
        Name = name;
        Source = source;
#pragma warning disable CA5350 // SHA-1 is how Redis names cached scripts; nothing here relies on it for security.
        Hash = SHA1.HashData(Encoding.UTF8.GetBytes(source));
#pragma warning restore CA5350
    }

    public string Name { get; }

    public string Source { get; }

    public byte[] Hash { get; }
}
