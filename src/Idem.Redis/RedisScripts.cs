using System.Security.Cryptography;
using System.Text;

namespace Idem.Redis;

/// <summary>
/// The Lua scripts the store runs, one per step. Each touches exactly one key (KEYS[1], the record), so it runs on the
/// one node that owns the key's slot, atomically: no other command runs on that Redis while a script does.
/// </summary>
/// <remarks>
/// <para>
/// A record is one string value in the layout <see cref="RedisRecord"/> reads (all integers little-endian), format 3:
/// <c>version:u8 state:u8 created_ms:i64 lease_expires_ms:i64 expires_ms:i64 fingerprint_len:u8 fingerprint
/// owner_len:u8 owner recovery_point_len:u16 recovery_point member_digest_len:u16 member_digest response</c>, where
/// state is 0 in progress or 1 completed, the owner is empty once completed or parked (released at a recovery point),
/// the recovery point is empty until the operation records one, the member digest (the claim's
/// <see cref="Storage.ClaimRequest.MemberDigest"/>) is empty when the request had none, and the response
/// (<see cref="Storage.IdempotencyResponseCodec"/>, itself versioned) is present only once completed. Format 2, written
/// before member digests, is the same without <c>member_digest_len</c> and <c>member_digest</c>; format 1, written before
/// recovery points, lacks <c>recovery_point_len</c> and <c>recovery_point</c> too. Every script still reads both (as a
/// record with no digest, and no point) and rewrites a record it changes in format 3. A script that meets a version it
/// does not know fails rather than guess.
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
    // Shared by every script: the server clock in ms, the record parser and writer, and the owner check. A record is past
    // its retention when its expiry has passed and it is completed or its lease has run out too (a record never expires
    // under a running lease). parse returns the fields, the recovery point ('' when none, and always for format 1), the
    // member digest ('' when none, and always for formats 1 and 2) and the position of the response; on an unknown
    // format, an error reply in place of the version.
    private const string Prelude = """
        local function clock()
          local t = redis.call('TIME')
          return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
        end
        local function parse(v)
          local version = string.byte(v, 1)
          if version == 3 then
            return struct.unpack('<BBi8i8i8Bc0Bc0Hc0Hc0', v)
          elseif version == 2 then
            local _, state, created, lease, expires, fingerprint, owner, point, rest = struct.unpack('<BBi8i8i8Bc0Bc0Hc0', v)
            return 2, state, created, lease, expires, fingerprint, owner, point, '', rest
          elseif version == 1 then
            local _, state, created, lease, expires, fingerprint, owner, rest = struct.unpack('<BBi8i8i8Bc0Bc0', v)
            return 1, state, created, lease, expires, fingerprint, owner, '', '', rest
          end
          return redis.error_reply('IDEM unknown record format ' .. tostring(version))
        end
        local function record(state, created, lease, expires, fingerprint, owner, point, members)
          return struct.pack('<BBi8i8i8Bc0Bc0Hc0Hc0', 3, state, created, lease, expires, #fingerprint, fingerprint, #owner, owner, #point, point, #members, members)
        end
        local function held(state, owner)
          return state == 0 and owner ~= '' and owner == ARGV[1]
        end
        local function gone(state, lease, expires, now)
          return expires <= now and (state == 1 or lease <= now)
        end

        """;

    // The claim of one record at the server's time now: fingerprint, owner token, lease ms, retention ms, grace ms and
    // member digest as the claim script's ARGV. Returns the claim script's code and payload (see Claim), or an error reply.
    private const string ClaimFunction = """
        local function claim(key, fingerprint, token, lease_ms, retention_ms, grace_ms, digest, now)
          local created = now
          local point = ''
          local v = redis.call('GET', key)
          if v then
            local version, state, c, lease, expires, f, owner, p, members = parse(v)
            if type(version) == 'table' then return version end
            if not gone(state, lease, expires, now) then
              if f ~= fingerprint then return 0, members end
              if state == 1 then return 1, v end
              if lease > now then return 2, lease - now end
              -- The holder's lease ran out (it crashed, stalled, or released the key at a recovery point): take the key
              -- over where it was left, keeping when it was first claimed.
              created = c
              point = p
            end
          end
          local lease = tonumber(lease_ms)
          local expires = now + math.max(lease, tonumber(retention_ms))
          redis.call('SET', key, record(0, created, now + lease, expires, fingerprint, token, point, digest), 'PXAT', expires + tonumber(grace_ms))
          return 3, point
        end

        """;

    // The completion of one record by its owner: 1 when stored, 0 when the owner no longer holds it, or an error reply.
    private const string CompleteFunction = """
        local function complete(key, token, retention_ms, grace_ms, response, now)
          local v = redis.call('GET', key)
          if not v then return 0 end
          local version, state, created, lease, expires, fingerprint, owner, point, members = parse(v)
          if type(version) == 'table' then return version end
          if not (state == 0 and owner ~= '' and owner == token) then return 0 end
          local kept = now + tonumber(retention_ms)
          redis.call('SET', key, record(1, created, 0, kept, fingerprint, '', point, members) .. response, 'PXAT', kept + tonumber(grace_ms))
          return 1
        end

        """;

    // The owner's scripts start alike: read the record, and answer 0 unless ARGV[1], the owner token, still holds it.
    private const string HeldPrelude = Prelude + """
        local v = redis.call('GET', KEYS[1])
        if not v then return 0 end
        local version, state, created, lease, expires, fingerprint, owner, point, members = parse(v)
        if type(version) == 'table' then return version end
        if not held(state, owner) then return 0 end

        """;

    /// <summary>
    /// ARGV: fingerprint, owner token, lease ms, retention ms, grace ms, member digest ('' for none). Returns
    /// <c>{3, point}</c> claimed (with the given owner and digest; point is the recovery point of a record taken over, ''
    /// when none), <c>{2, ms}</c> in progress for ms more, <c>{1, record}</c> completed, <c>{0, digest}</c> another
    /// fingerprint, with the digest stored beside it ('' when none). A completed record comes back whole in the same
    /// reply, so a replay is one round trip.
    /// </summary>
    public static readonly RedisScript Claim = new("claim", Prelude + ClaimFunction + """
        local code, payload = claim(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], clock())
        if type(code) == 'table' then return code end
        return {code, payload}
        """);

    /// <summary>
    /// Many claims in one call, in order, at one server time: KEYS are the records (one hash slot on a Cluster), ARGV six
    /// per key as for <see cref="Claim"/>. Returns the code and payload of each claim, one after the other. A key twice
    /// finds its own claim from earlier in the call. A record of an unknown format fails the call, after the claims before
    /// it were made: their owners never learn of them, and their leases run out.
    /// </summary>
    public static readonly RedisScript ClaimMany = new("claim-many", Prelude + ClaimFunction + """
        local now = clock()
        local out = {}
        for i = 1, #KEYS do
          local a = (i - 1) * 6
          local code, payload = claim(KEYS[i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], now)
          if type(code) == 'table' then return code end
          out[#out + 1] = code
          out[#out + 1] = payload or false
        end
        return out
        """);

    /// <summary>
    /// ARGV: owner token, retention ms, grace ms, encoded response. Returns 1 when stored, 0 when the owner no longer
    /// holds the key. An owner past its lease that nobody took over may still complete: nobody else ran. The recovery
    /// point and the member digest stay in the completed record.
    /// </summary>
    public static readonly RedisScript Complete = new("complete", Prelude + CompleteFunction + """
        return complete(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], clock())
        """);

    /// <summary>
    /// Many completions in one call, at one server time: KEYS are the records (one hash slot on a Cluster), ARGV four per
    /// key as for <see cref="Complete"/>. Returns 1 or 0 for each, in order.
    /// </summary>
    public static readonly RedisScript CompleteMany = new("complete-many", Prelude + CompleteFunction + """
        local now = clock()
        local out = {}
        for i = 1, #KEYS do
          local a = (i - 1) * 4
          local done = complete(KEYS[i], ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 4], now)
          if type(done) == 'table' then return done end
          out[i] = done
        end
        return out
        """);

    /// <summary>
    /// ARGV: owner token. Deletes the in-progress record; or, when it has a recovery point, parks it there (no owner,
    /// lease ended now, expiry kept) so the next claim with its fingerprint takes it over at once. 1 when released, 0 when
    /// the owner no longer holds it.
    /// </summary>
    public static readonly RedisScript Release = new("release", HeldPrelude + """
        if point == '' then
          redis.call('DEL', KEYS[1])
        else
          redis.call('SET', KEYS[1], record(0, created, math.min(lease, clock()), expires, fingerprint, '', point, members), 'KEEPTTL')
        end
        return 1
        """);

    /// <summary>
    /// ARGV: owner token, lease ms, grace ms, and a recovery point when the operation records one. Moves the lease to now +
    /// lease, and the expiry with it when it would otherwise come first, and records the point if given; 1 when done, 0
    /// when the owner no longer holds the key (taken over, or completed).
    /// </summary>
    public static readonly RedisScript Renew = new("renew", HeldPrelude + """
        local lease = clock() + tonumber(ARGV[2])
        expires = math.max(expires, lease)
        redis.call('SET', KEYS[1], record(0, created, lease, expires, fingerprint, owner, ARGV[4] or point, members), 'PXAT', expires + tonumber(ARGV[3]))
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
    /// caller whose clock runs ahead can never purge a live record); 1 when deleted. Reads only the fixed header, the
    /// same in formats 1, 2 and 3.
    /// </summary>
    public static readonly RedisScript Purge = new("purge", """
        local h = redis.call('GETRANGE', KEYS[1], 0, 25)
        local format = string.byte(h, 1)
        if #h < 26 or (format ~= 1 and format ~= 2 and format ~= 3) then return 0 end
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
    public static IReadOnlyList<RedisScript> All { get; } = [Claim, ClaimMany, Complete, CompleteMany, Release, Renew, Get, Purge];
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
