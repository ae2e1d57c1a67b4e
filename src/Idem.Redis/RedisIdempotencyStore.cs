using System.Globalization;
using System.Text;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Idem.Redis;

/// <summary>
/// Keeps idempotency records in Redis, one string key per record, shared by any number of nodes. Standalone records
/// only: Redis cannot join the handler's own database transaction.
/// </summary>
/// <remarks>
/// <para>
/// Every step is one Lua script on one key (<see cref="RedisScripts"/>), called by its SHA-1 (<c>EVALSHA</c>): one
/// round trip. The claim returns a completed record in the same reply, so a replay costs one round trip and a first
/// execution two (claim, complete). A server that does not know a script (restarted, failed over, flushed) answers
/// NOSCRIPT without running anything; the store then sends the script in full once (<c>EVAL</c>), which caches it.
/// </para>
/// <para>
/// Keys are <c>{prefix}{{storeKey}}</c> with the braces of the store key escaped, so the whole store key is the key's
/// hash tag: on Redis Cluster each record, and anything later kept beside it under the same tag, lives in one slot.
/// </para>
/// <para>
/// Times come from the Redis server's clock (<c>TIME</c> inside the scripts), never the application's, so nodes with
/// skewed clocks agree. Retention is enforced twice: the scripts treat an expired record as absent, and Redis deletes
/// the key itself <see cref="RedisStoreOptions.ExpiryGrace"/> later.
/// </para>
/// <para>
/// While Redis is unreachable every call throws (a <see cref="RedisConnectionException"/> at once when the store built
/// its own connection, which fails fast; a <see cref="RedisTimeoutException"/> when Redis accepts but does not answer),
/// and the middleware answers 503 without running the handler.
/// </para>
/// </remarks>
internal sealed partial class RedisIdempotencyStore : IBatchingStore, IAsyncDisposable, IDisposable
{
    // A claim's record keeps the fingerprint and owner with one-byte lengths.
    private const int MaxFingerprintBytes = 255;

    private readonly ConfigurationOptions? _configuration;
    private readonly bool _ownsConnection;
    private readonly RedisStoreOptions _options;
    private readonly ILogger _logger;
    private readonly RedisValue _grace;
    private readonly bool _replicated;
    private readonly object[] _waitArguments;
    private readonly SemaphoreSlim _connectGate = new(1, 1);
    private IConnectionMultiplexer? _connection;
    private IDatabase? _database;

    /// <summary>A store on a connection the application owns.</summary>
    public RedisIdempotencyStore(IConnectionMultiplexer connection, RedisStoreOptions options, ILogger<RedisIdempotencyStore> logger)
        : this(options, logger)
    {
        ArgumentNullException.ThrowIfNull(connection);
        _connection = connection;
        _database = connection.GetDatabase();
    }

    /// <summary>A store that connects on first use with <paramref name="configuration"/>, and closes its connection when disposed.</summary>
    public RedisIdempotencyStore(ConfigurationOptions configuration, RedisStoreOptions options, ILogger<RedisIdempotencyStore> logger)
        : this(options, logger)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        _configuration = configuration;
        _ownsConnection = true;
    }

    private RedisIdempotencyStore(RedisStoreOptions options, ILogger<RedisIdempotencyStore> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        OptionsValidation.ThrowIfInvalid(options, new RedisStoreOptionsValidator());
        _options = options;
        _logger = logger;
        _grace = Milliseconds(options.ExpiryGrace);
        _replicated = options.Durability == RedisDurability.Replicated;
        _waitArguments = [options.MinReplicas, (long)Math.Ceiling(options.ReplicationTimeout.TotalMilliseconds)];
    }

    /// <summary>The connection, once made.</summary>
    internal IConnectionMultiplexer? Connection => _connection;

    internal RedisStoreOptions Options => _options;

    /// <inheritdoc/>
    public async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        var members = ValidateRequest(request);

        // Checked before sending, not while waiting: a claim in flight may already have landed, and walking away from it
        // would leave a held key nobody completes. A Redis call is bounded by the connection's timeout anyway.
        cancellationToken.ThrowIfCancellationRequested();

        // The token goes with every claim: the script decides atomically whether to take the key, and a replay (the hot
        // path) cannot be told apart before the round trip. A GUID costs far less than a second round trip; so does the
        // member digest, which goes with every claim for the same reason.
        var owner = OwnerToken.New();
        var result = await EvaluateAsync(
            RedisScripts.Claim,
            request.StoreKey,
            [request.Fingerprint, owner, Milliseconds(request.LeaseDuration), Milliseconds(request.Retention), _grace, members]).ConfigureAwait(false);

        if ((int)result[0] == 3 && _replicated)
        {
            await ConfirmClaimReplicatedAsync(request.StoreKey, owner).ConfigureAwait(false);
        }

        return ClaimResultOf(request, owner, (int)result[0], result.Length > 1 ? result[1] : RedisResult.Create(RedisValue.Null));
    }

    // A claim script's answer (code and payload; see RedisScripts.Claim) as the claim's result.
    private static ClaimResult ClaimResultOf(ClaimRequest request, string owner, int code, RedisResult payload) => code switch
    {
        3 => ClaimResult.Claimed(new IdempotencyLease(request.StoreKey, owner, request.Retention, request.LeaseDuration)
        {
            RecoveryPoint = RecoveryPoint(payload),
        }),
        2 => ClaimResult.InProgress(TimeSpan.FromMilliseconds((long)payload)),
        1 => ClaimResult.Completed(RedisRecord.ReadResponse(request.StoreKey, (byte[])payload!)),
        0 => ClaimResult.Mismatch(!payload.IsNull ? (byte[])payload! : []),
        var other => throw new InvalidDataException($"The claim script answered {other.ToString(CultureInfo.InvariantCulture)}."),
    };

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(response);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await EvaluateAsync(
            RedisScripts.Complete,
            lease.StoreKey,
            [lease.OwnerToken, Milliseconds(lease.Retention), _grace, IdempotencyResponseCodec.Encode(response)]).ConfigureAwait(false);
        return await ReplicatedStatusAsync(result, "completion", lease.StoreKey).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        return Status(await EvaluateAsync(RedisScripts.Release, lease.StoreKey, [lease.OwnerToken]).ConfigureAwait(false));
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        if (Encoding.UTF8.GetByteCount(recoveryPoint) > RedisRecord.MaxRecoveryPointBytes)
        {
            throw new ArgumentException($"A recovery point is at most {RedisRecord.MaxRecoveryPointBytes} bytes.", nameof(recoveryPoint));
        }

        cancellationToken.ThrowIfCancellationRequested();
        var result = await EvaluateAsync(
            RedisScripts.Renew,
            lease.StoreKey,
            [lease.OwnerToken, Milliseconds(lease.LeaseDuration), _grace, recoveryPoint]).ConfigureAwait(false);
        return await ReplicatedStatusAsync(result, "recovery point", lease.StoreKey).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await EvaluateAsync(
            RedisScripts.Renew,
            lease.StoreKey,
            [lease.OwnerToken, Milliseconds(lease.LeaseDuration), _grace]).ConfigureAwait(false);
        return await ReplicatedStatusAsync(result, "renewal", lease.StoreKey).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storeKey);
        cancellationToken.ThrowIfCancellationRequested();
        var result = await EvaluateAsync(RedisScripts.Get, storeKey, []).ConfigureAwait(false);
        return result.IsNull ? null : RedisRecord.Read(storeKey, (byte[])result!);
    }

    /// <inheritdoc/>
    /// <remarks>
    /// Redis deletes expired records by itself, <see cref="RedisStoreOptions.ExpiryGrace"/> after they expire; this only
    /// deletes them sooner. It scans the store's keys (<c>SCAN MATCH prefix*</c>) on every primary, so one call reads
    /// up to all of them: run it rarely, if at all.
    /// </remarks>
    public async ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var database = _database ?? await ConnectAsync().ConfigureAwait(false);
        RedisValue[] cutoff = [expiredBefore.ToUnixTimeMilliseconds()];
        var pattern = _options.KeyPrefix + "{*";
        var purged = 0;
        var candidates = new List<RedisKey>();
        foreach (var server in _connection!.GetServers())
        {
            if (server.IsReplica)
            {
                continue;
            }

            await foreach (var key in server.KeysAsync(database.Database, pattern, pageSize: 256).WithCancellation(cancellationToken).ConfigureAwait(false))
            {
                candidates.Add(key);

                // Never more candidates in flight than deletions still allowed, so the batch size holds exactly.
                if (candidates.Count == Math.Min(batchSize - purged, 64))
                {
                    purged += await PurgeCandidatesAsync(database, candidates, cutoff).ConfigureAwait(false);
                    if (purged == batchSize)
                    {
                        return purged;
                    }
                }
            }

            purged += await PurgeCandidatesAsync(database, candidates, cutoff).ConfigureAwait(false);
            if (purged == batchSize)
            {
                return purged;
            }
        }

        return purged;
    }

    /// <summary>Closes the connection when the store made it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsConnection && _connection is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _connectGate.Dispose();
    }

    /// <summary>Closes the connection when the store made it.</summary>
    public void Dispose()
    {
        if (_ownsConnection)
        {
            _connection?.Dispose();
        }

        _connectGate.Dispose();
    }

    /// <summary>The Redis key of a store key: the prefix, then the store key as the hash tag.</summary>
    internal string RecordKey(string storeKey)
    {
        // Only the first '}' ends a hash tag: escape braces (and the escape character) so the tag is the whole store key,
        // and distinct store keys stay distinct.
        var extra = 0;
        foreach (var c in storeKey)
        {
            if (c is '{' or '}' or '%')
            {
                extra += 2;
            }
        }

        var builder = new StringBuilder(_options.KeyPrefix.Length + storeKey.Length + extra + 2);
        builder.Append(_options.KeyPrefix).Append('{');
        if (extra == 0)
        {
            builder.Append(storeKey);
        }
        else
        {
            foreach (var c in storeKey)
            {
                _ = c switch
                {
                    '{' => builder.Append("%7B"),
                    '}' => builder.Append("%7D"),
                    '%' => builder.Append("%25"),
                    _ => builder.Append(c),
                };
            }
        }

        return builder.Append('}').ToString();
    }

    private Task<RedisResult> EvaluateAsync(RedisScript script, string storeKey, RedisValue[] arguments)
        => _database is { } database
            ? EvaluateByKeyAsync(database, script, RecordKey(storeKey), arguments)
            : ConnectThenEvaluateAsync(script, storeKey, arguments);

    private async Task<RedisResult> ConnectThenEvaluateAsync(RedisScript script, string storeKey, RedisValue[] arguments)
        => await EvaluateByKeyAsync(await ConnectAsync().ConfigureAwait(false), script, RecordKey(storeKey), arguments).ConfigureAwait(false);

    private async Task<int> PurgeCandidatesAsync(IDatabase database, List<RedisKey> candidates, RedisValue[] cutoff)
    {
        if (candidates.Count == 0)
        {
            return 0;
        }

        // Pipelined: the scripts go out together and each deletes only an expired record, whatever ran in between.
        var calls = new Task<RedisResult>[candidates.Count];
        for (var i = 0; i < calls.Length; i++)
        {
            calls[i] = EvaluateByKeyAsync(database, RedisScripts.Purge, candidates[i], cutoff);
        }

        candidates.Clear();
        var deleted = 0;
        foreach (var result in await Task.WhenAll(calls).ConfigureAwait(false))
        {
            deleted += (int)result;
        }

        return deleted;
    }

    private Task<RedisResult> EvaluateByKeyAsync(IDatabase database, RedisScript script, RedisKey key, RedisValue[] arguments)
        => EvaluateByKeysAsync(database, script, [key], arguments);

    private async Task<RedisResult> EvaluateByKeysAsync(IDatabase database, RedisScript script, RedisKey[] keys, RedisValue[] arguments)
    {
        try
        {
            return await database.ScriptEvaluateAsync(script.Hash, keys, arguments).ConfigureAwait(false);
        }
        catch (RedisServerException ex) when (ex.Message.StartsWith("NOSCRIPT", StringComparison.Ordinal))
        {
            // Nothing ran. EVAL runs the script and caches it on that server for the EVALSHA calls after it.
            Log.ScriptReloaded(_logger, script.Name);
            return await database.ScriptEvaluateAsync(script.Source, keys, arguments).ConfigureAwait(false);
        }
    }

    // Gives back a claim nobody will use, best effort: if it fails, the key stays held until its lease ends, and nobody
    // runs under it.
    private async ValueTask ReleaseQuietlyAsync(string storeKey, string owner)
    {
        try
        {
            await EvaluateAsync(RedisScripts.Release, storeKey, [owner]).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
        }
    }

    private async Task<IDatabase> ConnectAsync()
    {
        await _connectGate.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_database is { } database)
            {
                return database;
            }

            // With AbortOnConnectFail off (the default the store sets) this returns even when Redis is down, and the
            // connection keeps retrying in the background; with it on, the failure propagates and the next call tries again.
            var connection = await ConnectionMultiplexer.ConnectAsync(_configuration!).ConfigureAwait(false);
            _connection = connection;
            return _database = connection.GetDatabase();
        }
        finally
        {
            _connectGate.Release();
        }
    }

    // The claim script answers '' for a key claimed afresh.
    private static string? RecoveryPoint(RedisResult point) => point.IsNull || (string?)point is not { Length: > 0 } name ? null : name;

    private static LeaseStatus Status(RedisResult result) => (int)result == 1 ? LeaseStatus.Ok : LeaseStatus.LeaseLost;

    private static RedisValue Milliseconds(TimeSpan duration) => (long)Math.Ceiling(duration.TotalMilliseconds);

    private static ReadOnlyMemory<byte> ValidateRequest(ClaimRequest request)
    {
        ClaimRequest.ThrowIfInvalid(request);
        if (Encoding.UTF8.GetByteCount(request.Fingerprint) > MaxFingerprintBytes)
        {
            throw new ArgumentException($"A fingerprint is at most {MaxFingerprintBytes} bytes.", nameof(request));
        }

        var members = request.MemberDigest;
        if (members.Length > RedisRecord.MaxMemberDigestBytes)
        {
            throw new ArgumentException($"A member digest is at most {RedisRecord.MaxMemberDigestBytes} bytes.", nameof(request));
        }

        return members;
    }
}
