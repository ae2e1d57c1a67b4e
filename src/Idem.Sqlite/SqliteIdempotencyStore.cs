using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Idem.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using SQLitePCL;

namespace Idem.Sqlite;

/// <summary>
/// Keeps idempotency records in a SQLite database file, standalone or inside the request's own transaction.
/// </summary>
/// <remarks>
/// <para>
/// Every step is one atomic step on the database: a claim is <c>BEGIN IMMEDIATE</c> plus one
/// <c>INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING</c> (and, when the key is not ours, a read of what holds it in
/// the same transaction); complete, release and renew are one conditional statement on the owner token. Several
/// processes may share the file: SQLite serialises writers, and each waits up to <see cref="SqliteStoreOptions.BusyTimeout"/>.
/// </para>
/// <para>
/// Time comes from the injected <see cref="TimeProvider"/>, stored as unix milliseconds. SQLite has no server clock, so
/// every process sharing the file must run on one machine (one clock), which an embedded database implies anyway.
/// </para>
/// <para>
/// Writers in this process first queue on an async gate, so a request waiting for another's write lock (above all a
/// transactional request, which holds it while its handler runs) waits without holding a thread: Microsoft.Data.Sqlite
/// does its I/O synchronously, and SQLite's busy handler sleeps on the calling thread. The busy handler is then only
/// for other processes. Readers (<see cref="GetAsync"/>) never wait: WAL lets them read the last committed state.
/// </para>
/// </remarks>
internal sealed partial class SqliteIdempotencyStore : IGroupCommitStore, IDisposable
{
    private static readonly object Configured = new();

    private readonly string _connectionString;
    private readonly string _connectionPragmas;
    private readonly string _tableName;
    private readonly bool _createSchema;
    private readonly TimeSpan _busyTimeout;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SqliteSql _sql;
    private readonly SemaphoreSlim _writeGate = new(1, 1);
    private readonly SemaphoreSlim _schemaGate = new(1, 1);

    // Pragmas belong to a connection, and pooled connections keep theirs: configure each native handle once.
    private readonly ConditionalWeakTable<sqlite3, object> _configured = [];
    private volatile bool _schemaReady;

    public SqliteIdempotencyStore(SqliteStoreOptions options, TimeProvider timeProvider, ILogger<SqliteIdempotencyStore> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(logger);
        OptionsValidation.ThrowIfInvalid(options, new SqliteStoreOptionsValidator());

        var builder = new SqliteConnectionStringBuilder(options.ConnectionString)
        {
            // Microsoft.Data.Sqlite's own retry on SQLITE_BUSY (for statements it issues itself, such as BEGIN) gives up
            // at this many seconds; keep it in step with SQLite's busy handler.
            DefaultTimeout = (int)Math.Ceiling(options.BusyTimeout.TotalSeconds),
        };
        _connectionString = builder.ToString();

        // synchronous=FULL: in WAL mode NORMAL may lose the last commits on power loss or an OS crash (it never corrupts
        // the file). A lost completion lets a retry run the operation a second time, the one thing this store exists to
        // prevent, so every commit syncs the WAL: one fsync per claim and per completion.
        _connectionPragmas = string.Create(
            CultureInfo.InvariantCulture,
            $"PRAGMA busy_timeout = {(long)options.BusyTimeout.TotalMilliseconds}; PRAGMA synchronous = FULL;");
        _tableName = options.TableName;
        _createSchema = options.CreateSchema;
        _busyTimeout = options.BusyTimeout;
        _time = timeProvider;
        _logger = logger;
        _sql = new SqliteSql(options.TableName);
    }

    /// <inheritdoc/>
    public async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ClaimRequest.ThrowIfInvalid(request);

        // Before the write lock: reading the digest may hash the request's members.
        var members = request.MemberDigest;
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                // BeginTransaction(deferred: false) is BEGIN IMMEDIATE: the write lock is taken before anything is read.
                using var transaction = connection.BeginTransaction(deferred: false);
                var result = await ClaimAsync(connection, transaction, request, members, cancellationToken).ConfigureAwait(false);
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
                return result;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(response);
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await CompleteAsync(connection, null, lease, response, cancellationToken).ConfigureAwait(false)
                    ? LeaseStatus.Ok
                    : LeaseStatus.LeaseLost;
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return await ExecuteOwnedAsync(_sql.Release, lease, leaseExpiresAt: null, recoveryPoint: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        return await ExecuteOwnedAsync(_sql.SetRecoveryPoint, lease, lease.LeaseDuration, recoveryPoint, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return await ExecuteOwnedAsync(_sql.Renew, lease, lease.LeaseDuration, recoveryPoint: null, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc/>
    public async ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storeKey);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = connection.CreateCommand();
            command.CommandText = _sql.Get;
            command.Parameters.AddWithValue("@key", storeKey);
            command.Parameters.AddWithValue("@now", _time.GetUtcNow().ToUnixTimeMilliseconds());
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            var completed = reader.GetInt32(1) == 1;
            return new IdempotencyRecord
            {
                StoreKey = storeKey,
                Fingerprint = reader.GetString(0),
                State = completed ? IdempotencyRecordState.Completed : IdempotencyRecordState.InProgress,
                CreatedAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(2)),
                LeaseExpiresAt = completed ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(3)),
                ExpiresAt = DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(4)),
                RecoveryPoint = reader.IsDBNull(5) ? null : reader.GetString(5),
                MemberDigest = ReadMemberDigest(reader, 10),
                Response = completed ? ReadResponse(reader, 6) : null,
            };
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                using var command = connection.CreateCommand();
                command.CommandText = _sql.Purge;
                command.Parameters.AddWithValue("@expired_before", expiredBefore.ToUnixTimeMilliseconds());
                command.Parameters.AddWithValue("@batch_size", batchSize);
                return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    /// <summary>Closes this store's idle pooled connections, so the database file is no longer held open.</summary>
    public void Dispose()
    {
        using (var connection = new SqliteConnection(_connectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        _writeGate.Dispose();
        _schemaGate.Dispose();
    }

    private async ValueTask<ClaimResult> ClaimAsync(SqliteConnection connection, SqliteTransaction transaction, ClaimRequest request, ReadOnlyMemory<byte> members, CancellationToken cancellationToken)
    {
        // Read the clock once the write lock is held, so claims are timed in the order they take effect.
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        var owner = OwnerToken.New();
        var lease = Milliseconds(request.LeaseDuration);
        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = _sql.Claim;
            command.Parameters.AddWithValue("@key", request.StoreKey);
            command.Parameters.AddWithValue("@fingerprint", request.Fingerprint);
            command.Parameters.AddWithValue("@owner", owner);
            command.Parameters.AddWithValue("@now", now);
            command.Parameters.AddWithValue("@lease_expires_at", now + lease);
            command.Parameters.AddWithValue("@expires_at", now + Math.Max(lease, Milliseconds(request.Retention)));
            command.Parameters.Add("@member_digest", SqliteType.Blob).Value = members.IsEmpty ? DBNull.Value : AsArray(members);
            using var claimed = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (await claimed.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                return ClaimResult.Claimed(new IdempotencyLease(request.StoreKey, owner, request.Retention, request.LeaseDuration)
                {
                    RecoveryPoint = claimed.IsDBNull(1) ? null : claimed.GetString(1),
                });
            }
        }

        using (var command = connection.CreateCommand())
        {
            command.Transaction = transaction;
            command.CommandText = _sql.SelectHolder;
            command.Parameters.AddWithValue("@key", request.StoreKey);
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                // The insert conflicted inside this write transaction, so the row is there.
                throw new InvalidOperationException($"The idempotency record for '{request.StoreKey}' vanished inside its claim transaction.");
            }

            if (!string.Equals(reader.GetString(0), request.Fingerprint, StringComparison.Ordinal))
            {
                return ClaimResult.Mismatch(ReadMemberDigest(reader, 7));
            }

            if (reader.GetInt32(1) == 1)
            {
                return ClaimResult.Completed(ReadResponse(reader, 3));
            }

            return ClaimResult.InProgress(TimeSpan.FromMilliseconds(reader.GetInt64(2) - now));
        }
    }

    private async ValueTask<bool> CompleteAsync(SqliteConnection connection, SqliteTransaction? transaction, IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken)
    {
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = _sql.Complete;
        command.Parameters.AddWithValue("@key", lease.StoreKey);
        command.Parameters.AddWithValue("@owner", lease.OwnerToken);
        command.Parameters.AddWithValue("@expires_at", _time.GetUtcNow().ToUnixTimeMilliseconds() + Milliseconds(lease.Retention));
        command.Parameters.AddWithValue("@status", response.StatusCode);
        command.Parameters.Add("@headers", SqliteType.Blob).Value = IdempotencyResponseCodec.EncodeHeaders(response.Headers);
        command.Parameters.Add("@body", SqliteType.Blob).Value = AsArray(response.Body);
        command.Parameters.AddWithValue("@body_truncated", response.BodyTruncated ? 1 : 0);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private async ValueTask<LeaseStatus> ExecuteOwnedAsync(string sql, IdempotencyLease lease, TimeSpan? leaseExpiresAt, string? recoveryPoint, CancellationToken cancellationToken)
    {
        await EnterWriteGateAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
            await using (connection.ConfigureAwait(false))
            {
                return await ExecuteOwnedAsync(connection, null, sql, lease, leaseExpiresAt, recoveryPoint, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            _writeGate.Release();
        }
    }

    // One conditional statement (or two with exclusive conditions, for a release) on the owner token.
    private async ValueTask<LeaseStatus> ExecuteOwnedAsync(SqliteConnection connection, SqliteTransaction? transaction, string sql, IdempotencyLease lease, TimeSpan? leaseExpiresAt, string? recoveryPoint, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow().ToUnixTimeMilliseconds();
        using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        command.Parameters.AddWithValue("@key", lease.StoreKey);
        command.Parameters.AddWithValue("@owner", lease.OwnerToken);
        command.Parameters.AddWithValue("@now", now);
        if (leaseExpiresAt is { } duration)
        {
            command.Parameters.AddWithValue("@lease_expires_at", now + Milliseconds(duration));
        }

        if (recoveryPoint is not null)
        {
            command.Parameters.AddWithValue("@recovery_point", recoveryPoint);
        }

        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1 ? LeaseStatus.Ok : LeaseStatus.LeaseLost;
    }

    private async ValueTask<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(_connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var handle = connection.Handle!;
            if (!_configured.TryGetValue(handle, out _))
            {
                using var command = connection.CreateCommand();
                command.CommandText = _connectionPragmas;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                _configured.AddOrUpdate(handle, Configured);
            }

            if (!_schemaReady)
            {
                await EnsureSchemaAsync(connection, cancellationToken).ConfigureAwait(false);
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async ValueTask EnterWriteGateAsync(CancellationToken cancellationToken)
    {
        if (!await _writeGate.WaitAsync(_busyTimeout, cancellationToken).ConfigureAwait(false))
        {
            ThrowBusy();
        }
    }

    [DoesNotReturn]
    private void ThrowBusy()
        => throw new TimeoutException($"The SQLite idempotency store waited {_busyTimeout} for another write (in this process) to finish.");

    private static IdempotencyResponse ReadResponse(SqliteDataReader reader, int first)
    {
        var status = reader.GetInt32(first);
        var headers = IdempotencyResponseCodec.DecodeHeaders(reader.GetFieldValue<byte[]>(first + 1));

        // SQLite may hand back a zero-length blob as NULL.
        var body = reader.IsDBNull(first + 2) ? [] : reader.GetFieldValue<byte[]>(first + 2);
        return new IdempotencyResponse(status, headers, body, reader.GetInt32(first + 3) == 1);
    }

    // NULL in a table from before member digests, and for a request that had none.
    private static byte[] ReadMemberDigest(SqliteDataReader reader, int ordinal) => reader.IsDBNull(ordinal) ? [] : reader.GetFieldValue<byte[]>(ordinal);

    private static byte[] AsArray(ReadOnlyMemory<byte> body)
        => MemoryMarshal.TryGetArray(body, out var segment) && segment.Offset == 0 && segment.Count == segment.Array!.Length
            ? segment.Array
            : body.ToArray();

    private static long Milliseconds(TimeSpan duration) => (long)duration.TotalMilliseconds;
}
