using System.Buffers.Binary;
using System.Data;
using System.Security.Cryptography;
using System.Text;
using Idem.Storage;
using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;

namespace Idem.Postgres;

/// <summary>
/// Keeps idempotency records in one PostgreSQL table, standalone or inside the request's own transaction. Any number of
/// nodes may share the table.
/// </summary>
/// <remarks>
/// <para>
/// Every step is one round trip: the claim is a plain insert and a read of the row sent together, which settle a new key
/// and every live record, and only a takeover (a lapsed lease, a key past its retention) runs the full claim statement
/// after them (see <see cref="PostgresSql"/>); complete, release and renew are one conditional statement on the owner
/// token. Statements are prepared on each pooled connection the first time they run there.
/// </para>
/// <para>
/// Time comes from the database clock (<c>clock_timestamp()</c>), never the application's, so nodes with skewed clocks
/// agree on leases and retention. A claim that had to wait for another transaction (at most
/// <see cref="PostgresStoreOptions.LockTimeout"/>) dates its lease from before the wait.
/// </para>
/// <para>
/// A transactional claim opens a READ COMMITTED transaction whose first statement is the claim. A concurrent duplicate's
/// claim waits on the uncommitted row and then sees what the first transaction did: its completed record after a commit,
/// nothing after a rollback (so it claims and runs itself). A wait longer than the lock timeout answers InProgress.
/// </para>
/// </remarks>
internal sealed partial class PostgresIdempotencyStore : IGroupCommitStore, IBatchingStore, IAsyncDisposable, IDisposable
{
    // Serialization failures only happen when the database's default isolation is above READ COMMITTED. Every step is a
    // single statement that either took effect or did not, so running it again is safe.
    private const int MaxAttempts = 3;

    // What a claim that timed out waiting tells the client: the holder is a running transaction whose lease it cannot see.
    private static readonly TimeSpan WaitTimedOutRetryAfter = TimeSpan.FromSeconds(1);

    private readonly NpgsqlDataSource _dataSource;
    private readonly bool _ownsDataSource;
    private readonly PostgresStoreOptions _options;
    private readonly ILogger _logger;
    private readonly PostgresSql _sql;
    private readonly SemaphoreSlim _schemaGate = new(1, 1);
    private volatile bool _schemaReady;

    public PostgresIdempotencyStore(NpgsqlDataSource dataSource, bool ownsDataSource, PostgresStoreOptions options, ILogger<PostgresIdempotencyStore> logger)
    {
        ArgumentNullException.ThrowIfNull(dataSource);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        OptionsValidation.ThrowIfInvalid(options, new PostgresStoreOptionsValidator());

        _dataSource = dataSource;
        _ownsDataSource = ownsDataSource;
        _options = options;
        _logger = logger;
        _sql = new PostgresSql(options.Schema, options.TableName, options.LockTimeout);
        _schemaReady = !options.CreateSchema;
    }

    internal PostgresSql Sql => _sql;

    internal NpgsqlDataSource DataSource => _dataSource;

    /// <inheritdoc/>
    public async ValueTask<ClaimResult> TryClaimAsync(ClaimRequest request, CancellationToken cancellationToken = default)
    {
        ClaimRequest.ThrowIfInvalid(request);
        cancellationToken.ThrowIfCancellationRequested();
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return await ClaimAloneAsync(connection, request, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc/>
    public async ValueTask<LeaseStatus> CompleteAsync(IdempotencyLease lease, IdempotencyResponse response, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentNullException.ThrowIfNull(response);
        if (!Guid.TryParseExact(lease.OwnerToken, "N", out var owner))
        {
            return LeaseStatus.LeaseLost;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await CompleteAsync(connection, null, lease, owner, response, cancellationToken).ConfigureAwait(false)
                        ? LeaseStatus.Ok
                        : LeaseStatus.LeaseLost;
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.SerializationFailure && attempt < MaxAttempts)
                {
                    Log.SerializationRetry(_logger, lease.StoreKey, attempt);
                }
            }
        }
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> ReleaseAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return ExecuteOwnedAsync(_sql.Release, lease, leaseDuration: null, recoveryPoint: null, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> SetRecoveryPointAsync(IdempotencyLease lease, string recoveryPoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        ArgumentException.ThrowIfNullOrWhiteSpace(recoveryPoint);
        return ExecuteOwnedAsync(_sql.SetRecoveryPoint, lease, lease.LeaseDuration, recoveryPoint, cancellationToken);
    }

    /// <inheritdoc/>
    public ValueTask<LeaseStatus> RenewAsync(IdempotencyLease lease, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(lease);
        return ExecuteOwnedAsync(_sql.Renew, lease, lease.LeaseDuration, recoveryPoint: null, cancellationToken);
    }

    /// <inheritdoc/>
    public async ValueTask<IdempotencyRecord?> GetAsync(string storeKey, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storeKey);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = new NpgsqlCommand(_sql.Get, connection);
            command.Parameters.Add(Text(storeKey));
            await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
            var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess | CommandBehavior.SingleRow, cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                {
                    return null;
                }

                // Sequential access: every column once, in order, asynchronously.
                var fingerprint = await reader.GetFieldValueAsync<string>(0, cancellationToken).ConfigureAwait(false);
                var completed = await reader.GetFieldValueAsync<short>(1, cancellationToken).ConfigureAwait(false) == 1;
                var createdAt = await reader.GetFieldValueAsync<DateTimeOffset>(2, cancellationToken).ConfigureAwait(false);
                var leaseExpiresAt = await reader.GetFieldValueAsync<DateTimeOffset>(3, cancellationToken).ConfigureAwait(false);
                var expiresAt = await reader.GetFieldValueAsync<DateTimeOffset>(4, cancellationToken).ConfigureAwait(false);
                var recoveryPoint = await reader.IsDBNullAsync(5, cancellationToken).ConfigureAwait(false)
                    ? null
                    : await reader.GetFieldValueAsync<string>(5, cancellationToken).ConfigureAwait(false);
                var memberDigest = await ReadMemberDigestAsync(reader, 6, cancellationToken).ConfigureAwait(false);
                return new IdempotencyRecord
                {
                    StoreKey = storeKey,
                    Fingerprint = fingerprint,
                    State = completed ? IdempotencyRecordState.Completed : IdempotencyRecordState.InProgress,
                    CreatedAt = createdAt,
                    LeaseExpiresAt = completed ? null : leaseExpiresAt,
                    ExpiresAt = expiresAt,
                    RecoveryPoint = recoveryPoint,
                    MemberDigest = memberDigest,
                    Response = completed ? await ReadResponseAsync(reader, 7, cancellationToken).ConfigureAwait(false) : null,
                };
            }
        }
    }

    /// <inheritdoc/>
    public async ValueTask<int> PurgeAsync(DateTimeOffset expiredBefore, int batchSize, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            using var command = new NpgsqlCommand(_sql.Purge, connection);
            command.Parameters.Add(new NpgsqlParameter<DateTimeOffset> { NpgsqlDbType = NpgsqlDbType.TimestampTz, TypedValue = expiredBefore.ToUniversalTime() });
            command.Parameters.Add(new NpgsqlParameter<int> { NpgsqlDbType = NpgsqlDbType.Integer, TypedValue = batchSize });
            await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Disposes the data source when the store built it.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsDataSource)
        {
            await _dataSource.DisposeAsync().ConfigureAwait(false);
        }

        _schemaGate.Dispose();
    }

    /// <summary>Disposes the data source when the store built it.</summary>
    public void Dispose()
    {
        if (_ownsDataSource)
        {
            _dataSource.Dispose();
        }

        _schemaGate.Dispose();
    }

    // A standalone claim in its own implicit transaction: a wait past the lock timeout answers in progress, and a
    // serialization failure (a database whose default isolation is above READ COMMITTED) runs it again.
    private async ValueTask<ClaimResult> ClaimAloneAsync(NpgsqlConnection connection, ClaimRequest request, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await ClaimAsync(connection, null, request, cancellationToken).ConfigureAwait(false);
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.LockNotAvailable)
            {
                Log.ClaimWaitTimedOut(_logger, request.StoreKey, _options.LockTimeout);
                return ClaimResult.InProgress(Min(WaitTimedOutRetryAfter, request.LeaseDuration));
            }
            catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.SerializationFailure && attempt < MaxAttempts)
            {
                Log.SerializationRetry(_logger, request.StoreKey, attempt);
            }
        }
    }

    // The claim: its first try (PostgresSql.InsertClaim and ReadClaim, one round trip) answers a new key and every live
    // record; only a claimable record (a takeover, a key past its retention) or one deleted between the two statements
    // takes the full claim, one more round trip.
    private async ValueTask<ClaimResult> ClaimAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, ClaimRequest request, CancellationToken cancellationToken)
    {
        using (var batch = new NpgsqlBatch(connection, transaction))
        {
            AddFirstTry(batch, request);
            await batch.PrepareAsync(cancellationToken).ConfigureAwait(false);
            var reader = await batch.ExecuteReaderAsync(CommandBehavior.SequentialAccess, cancellationToken).ConfigureAwait(false);
            await using (reader.ConfigureAwait(false))
            {
                if (await ReadClaimAsync(reader, request, cancellationToken).ConfigureAwait(false) is { } answered)
                {
                    return answered;
                }
            }
        }

        return await FullClaimAsync(connection, transaction, request, cancellationToken).ConfigureAwait(false);
    }

    // A claim's first try: PostgresSql.InsertClaim with a fresh owner token, then PostgresSql.ReadClaim. Only the read
    // returns a result.
    private void AddFirstTry(NpgsqlBatch batch, ClaimRequest request)
    {
        var token = Guid.NewGuid();
        var insert = new NpgsqlBatchCommand(_sql.InsertClaim);
        AddClaimParameters(insert.Parameters, request);
        insert.Parameters.Add(Uuid(token));
        var read = new NpgsqlBatchCommand(_sql.ReadClaim);
        read.Parameters.Add(Text(request.StoreKey));
        read.Parameters.Add(Text(request.Fingerprint));
        read.Parameters.Add(Uuid(token));
        batch.BatchCommands.Add(insert);
        batch.BatchCommands.Add(read);
    }

    private async ValueTask<ClaimResult> FullClaimAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, ClaimRequest request, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(_sql.Claim, connection, transaction);
        AddClaimParameters(command.Parameters, request);
        await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(CommandBehavior.SequentialAccess | CommandBehavior.SingleRow, cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            // The full claim returns exactly one row by construction.
            return await ReadClaimAsync(reader, request, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"The claim on '{request.StoreKey}' returned no row.");
        }
    }

    // A claim's row, in the columns of PostgresSql.Claim (ReadClaim returns the same), read with sequential access (a
    // stored body may be megabytes, read straight into its array): every column once, in order, asynchronously. Null
    // when there is no row.
    private static async ValueTask<ClaimResult?> ReadClaimAsync(NpgsqlDataReader reader, ClaimRequest request, CancellationToken cancellationToken)
    {
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        if (!await reader.IsDBNullAsync(0, cancellationToken).ConfigureAwait(false))
        {
            var token = await reader.GetFieldValueAsync<Guid>(0, cancellationToken).ConfigureAwait(false);
            return ClaimResult.Claimed(new IdempotencyLease(request.StoreKey, token.ToString("N"), request.Retention, request.LeaseDuration)
            {
                RecoveryPoint = await reader.IsDBNullAsync(1, cancellationToken).ConfigureAwait(false)
                    ? null
                    : await reader.GetFieldValueAsync<string>(1, cancellationToken).ConfigureAwait(false),
            });
        }

        var fingerprint = await reader.GetFieldValueAsync<string>(2, cancellationToken).ConfigureAwait(false);
        if (!string.Equals(fingerprint, request.Fingerprint, StringComparison.Ordinal))
        {
            return ClaimResult.Mismatch(await ReadMemberDigestAsync(reader, 3, cancellationToken).ConfigureAwait(false));
        }

        var completed = await reader.GetFieldValueAsync<short>(4, cancellationToken).ConfigureAwait(false) == 1;
        var retryAfter = await reader.GetFieldValueAsync<TimeSpan>(5, cancellationToken).ConfigureAwait(false);
        return completed
            ? ClaimResult.Completed(await ReadResponseAsync(reader, 6, cancellationToken).ConfigureAwait(false))
            : ClaimResult.InProgress(retryAfter);
    }

    private async ValueTask<bool> CompleteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, IdempotencyLease lease, Guid owner, IdempotencyResponse response, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(_sql.Complete, connection, transaction);
        AddCompleteParameters(command.Parameters, lease, owner, response);
        await command.PrepareAsync(cancellationToken).ConfigureAwait(false);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false) == 1;
    }

    private async ValueTask<LeaseStatus> ExecuteOwnedAsync(string sql, IdempotencyLease lease, TimeSpan? leaseDuration, string? recoveryPoint, CancellationToken cancellationToken)
    {
        if (!Guid.TryParseExact(lease.OwnerToken, "N", out var owner))
        {
            return LeaseStatus.LeaseLost;
        }

        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            for (var attempt = 1; ; attempt++)
            {
                try
                {
                    return await ExecuteOwnedAsync(connection, null, sql, lease.StoreKey, owner, leaseDuration, recoveryPoint, cancellationToken).ConfigureAwait(false);
                }
                catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.SerializationFailure && attempt < MaxAttempts)
                {
                    Log.SerializationRetry(_logger, lease.StoreKey, attempt);
                }
            }
        }
    }

    // One conditional statement on the owner token: $1 key, $2 owner, then the lease and the recovery point when given.
    private async ValueTask<LeaseStatus> ExecuteOwnedAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, string storeKey, Guid owner, TimeSpan? leaseDuration, string? recoveryPoint, CancellationToken cancellationToken)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        command.Parameters.Add(Text(storeKey));
        command.Parameters.Add(Uuid(owner));
        if (leaseDuration is { } duration)
        {
            command.Parameters.Add(Interval(duration));
        }

        if (recoveryPoint is not null)
        {
            command.Parameters.Add(Text(recoveryPoint));
        }

        await command.PrepareAsync(cancellationToken).ConfigureAwait(false);

        // The release is a query (it counts the rows its two branches changed); the others are plain updates.
        var affected = ReferenceEquals(sql, _sql.Release)
            ? (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!
            : await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        return affected == 1 ? LeaseStatus.Ok : LeaseStatus.LeaseLost;
    }

    private async ValueTask<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!_schemaReady)
        {
            await EnsureSchemaAsync(cancellationToken).ConfigureAwait(false);
        }

        return await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
    }

    // NULL in a row from before member digests, and for a request that had none.
    private static async ValueTask<byte[]> ReadMemberDigestAsync(NpgsqlDataReader reader, int ordinal, CancellationToken cancellationToken)
        => await reader.IsDBNullAsync(ordinal, cancellationToken).ConfigureAwait(false)
            ? []
            : await reader.GetFieldValueAsync<byte[]>(ordinal, cancellationToken).ConfigureAwait(false);

    // Columns from first on: status, body_truncated, headers, body (the large one last).
    private static async ValueTask<IdempotencyResponse> ReadResponseAsync(NpgsqlDataReader reader, int first, CancellationToken cancellationToken)
    {
        var status = await reader.GetFieldValueAsync<int>(first, cancellationToken).ConfigureAwait(false);
        var truncated = await reader.GetFieldValueAsync<bool>(first + 1, cancellationToken).ConfigureAwait(false);
        var headers = IdempotencyResponseCodec.DecodeHeaders(await reader.GetFieldValueAsync<byte[]>(first + 2, cancellationToken).ConfigureAwait(false));
        var body = await reader.GetFieldValueAsync<byte[]>(first + 3, cancellationToken).ConfigureAwait(false);
        return new IdempotencyResponse(status, headers, body, truncated);
    }

    // The claim statement's parameters: $1 key, $2 fingerprint, $3 lease, $4 retention, $5 member digest (NULL for none).
    private static void AddClaimParameters(NpgsqlParameterCollection parameters, ClaimRequest request)
    {
        parameters.Add(Text(request.StoreKey));
        parameters.Add(Text(request.Fingerprint));
        parameters.Add(Interval(request.LeaseDuration));
        parameters.Add(Interval(request.Retention));
        var members = request.MemberDigest;
        parameters.Add(new NpgsqlParameter { NpgsqlDbType = NpgsqlDbType.Bytea, Value = members.IsEmpty ? DBNull.Value : members });
    }

    // The completion's parameters: $1 key, $2 owner, $3 retention, $4 status, $5 headers, $6 body, $7 truncated.
    private static void AddCompleteParameters(NpgsqlParameterCollection parameters, IdempotencyLease lease, Guid owner, IdempotencyResponse response)
    {
        parameters.Add(Text(lease.StoreKey));
        parameters.Add(Uuid(owner));
        parameters.Add(Interval(lease.Retention));
        parameters.Add(new NpgsqlParameter<int> { NpgsqlDbType = NpgsqlDbType.Integer, TypedValue = response.StatusCode });
        parameters.Add(new NpgsqlParameter<byte[]> { NpgsqlDbType = NpgsqlDbType.Bytea, TypedValue = IdempotencyResponseCodec.EncodeHeaders(response.Headers) });
        parameters.Add(new NpgsqlParameter<ReadOnlyMemory<byte>> { NpgsqlDbType = NpgsqlDbType.Bytea, TypedValue = response.Body });
        parameters.Add(new NpgsqlParameter<bool> { NpgsqlDbType = NpgsqlDbType.Boolean, TypedValue = response.BodyTruncated });
    }

    private static NpgsqlParameter<string> Text(string value) => new() { NpgsqlDbType = NpgsqlDbType.Text, TypedValue = value };

    private static NpgsqlParameter<TimeSpan> Interval(TimeSpan value) => new() { NpgsqlDbType = NpgsqlDbType.Interval, TypedValue = value };

    private static NpgsqlParameter<Guid> Uuid(Guid value) => new() { NpgsqlDbType = NpgsqlDbType.Uuid, TypedValue = value };

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
