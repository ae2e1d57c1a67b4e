using System.Data.Common;
using System.Globalization;
using Idem.Payments.Data;

namespace Idem.Payments.IdempotencyKeys;

/// <summary>
/// Lists a tenant's keys still in progress, for the console. Idem's store contract reads one key at a time, so this
/// reads Idem's table (<c>idem_keys</c>, in the ledger's database) itself: the columns that describe a record, never
/// <c>headers</c> or <c>body</c>. A tenant's rows are those whose store key starts with its scope, a range that the
/// primary key's index serves.
/// </summary>
internal sealed class IdempotencyKeyRepository(UnitOfWork work) : Repository(work)
{
    private const string Table = "idem_keys";

    // Only records nobody is working on: parked at a recovery point, or past their lease.
    private const string StalledSql = $"""
        SELECT key, owner_column, created_at, lease_expires_at, expires_at, recovery_point
        FROM {Table} WHERE key >= @from AND key < @to AND state = 0 AND (recovery_point IS NOT NULL OR lease_expires_at <= @now)
        ORDER BY created_at LIMIT @limit;
        """;

    /// <summary>
    /// The tenant's in-progress records (by their scope) that are parked at a recovery point or past their lease at
    /// <paramref name="now"/>, oldest first.
    /// </summary>
    public async Task<List<KeyInProgress>> ListStalledAsync(string scope, DateTimeOffset now, int limit, CancellationToken cancellationToken)
    {
        // Store keys are "<length>:<scope>|…": every key of the scope lies in ["<length>:<scope>|", "<length>:<scope>}").
        var prefix = string.Create(CultureInfo.InvariantCulture, $"{scope.Length}:{scope}");
        using var command = Command(StalledSql.Replace("owner_column", OwnerColumn, StringComparison.Ordinal));
        Add(command, "@from", prefix + "|");
        Add(command, "@to", prefix + "}");
        Add(command, "@limit", limit);
        Add(command, "@now", Dialect is PostgresDialect ? now : now.ToUnixTimeMilliseconds());
        var keys = new List<KeyInProgress>();
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using (reader.ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                keys.Add(new KeyInProgress(
                    StoreKeyParts.Parse(reader.GetString(0)), reader.IsDBNull(1) ? null : Convert.ToString(reader.GetValue(1), CultureInfo.InvariantCulture),
                    Time(reader, 2), Time(reader, 3), Time(reader, 4), reader.IsDBNull(5) ? null : reader.GetString(5)));
            }
        }

        return keys;
    }

    /// <summary>The owner token of an in-progress record, or null.</summary>
    public async Task<string?> OwnerOfAsync(string storeKey, CancellationToken cancellationToken)
    {
        using var command = Command($"SELECT {OwnerColumn} FROM {Table} WHERE key = @key AND state = 0;");
        Add(command, "@key", storeKey);
        var owner = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return owner is null or DBNull ? null : Convert.ToString(owner, CultureInfo.InvariantCulture);
    }

    // The SQLite store names the column "owner" and keeps Unix milliseconds; PostgreSQL's store "owner_token" and timestamptz.
    private string OwnerColumn => Dialect is PostgresDialect ? "owner_token" : "owner";

    private static DateTimeOffset Time(DbDataReader reader, int ordinal) => reader.GetValue(ordinal) switch
    {
        long milliseconds => DateTimeOffset.FromUnixTimeMilliseconds(milliseconds),
        DateTime time => new DateTimeOffset(DateTime.SpecifyKind(time, DateTimeKind.Utc)),
        DateTimeOffset time => time,
        var other => throw new InvalidOperationException($"Unexpected time value {other} in {Table}."),
    };
}

/// <summary>A record still in progress: its owner's token, when it began, when its lease ends, and its recovery point if it has one.</summary>
internal sealed record KeyInProgress(StoreKeyParts Key, string? Owner, DateTimeOffset CreatedAt, DateTimeOffset LeaseExpiresAt, DateTimeOffset ExpiresAt, string? RecoveryPoint);

/// <summary>A store key taken apart: <c>scope / method / route template / client key</c> (see <see cref="StoreKey"/>).</summary>
internal sealed record StoreKeyParts(string Scope, string Method, string Route, string Key)
{
    public static StoreKeyParts Parse(string storeKey)
    {
        var rest = storeKey.AsSpan();
        var scope = Next(ref rest);
        var method = Next(ref rest);
        var route = Next(ref rest);
        return new StoreKeyParts(scope, method, route, rest.ToString());
    }

    // "<length>:<value>|": the length says where the value ends, whatever it contains.
    private static string Next(ref ReadOnlySpan<char> rest)
    {
        var colon = rest.IndexOf(':');
        var length = int.Parse(rest[..colon], NumberStyles.None, CultureInfo.InvariantCulture);
        var value = rest.Slice(colon + 1, length).ToString();
        rest = rest[(colon + 1 + length + 1)..];
        return value;
    }
}
